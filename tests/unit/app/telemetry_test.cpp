// Ingestion and fan-out without sockets: a request goes in, the same encoded packet reaches
// the sessions of the room on every shard (two io_contexts stand for two shards).
#include "app/authorization/management_api_client.hpp"
#include "app/telemetry/fanout.hpp"
#include "app/telemetry/ingest.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

using namespace kamea;
using namespace kamea::app::telemetry;
namespace http = boost::beast::http;

namespace {

struct null_link : engineio::transport_link {
    void wake() override {}
};

struct joiner : socketio::namespace_handler {
    std::optional<std::string> on_connect(socketio::socket& s, const boost::json::object& auth) override {
        s.join(room_of(auth.at("device").as_string()));
        return std::nullopt;
    }
    void on_event(socketio::socket&, const socketio::event&) override {}
};

struct shard_stub {
    boost::asio::io_context ctx;
    socketio::server srv{socketio::server_options{}};
    std::vector<std::shared_ptr<engineio::session>> sessions;
    null_link link;

    shard_stub() { srv.add_namespace("/devices", std::make_unique<joiner>()); }

    engineio::session& subscriber(const std::string& device) {
        auto s = std::make_shared<engineio::session>(ctx.get_executor(), "s", engineio::transport_kind::websocket,
                                                     engineio::session_options{}, engineio::handshake_info{});
        s->set_handler(srv.make_connection(*s));
        s->attach_websocket(&link);
        std::string connect = R"(0/devices,{"device":")" + device + R"("})";
        s->on_packet({engineio::packet_type::message, false, connect});
        std::vector<engineio::wire_ptr> drain;
        s->take_queue(drain);
        sessions.push_back(s);
        return *s;
    }
    std::vector<std::string> received(engineio::session& s) {
        std::vector<engineio::wire_ptr> out;
        s.take_queue(out);
        std::vector<std::string> texts;
        for (auto& p : out) {
            texts.emplace_back(p->payload());
        }
        return texts;
    }
};

http_request post(std::string body, std::string content_type = "application/json", std::string auth = {}) {
    http_request req{http::verb::post, "/internal/v1/telemetries", 11};
    req.set(http::field::content_type, content_type);
    if (!auth.empty()) {
        req.set(http::field::authorization, auth);
    }
    req.body() = std::move(body);
    req.prepare_payload();
    return req;
}

struct ingest_fixture : ::testing::Test {
    shard_stub a;
    shard_stub b;
    fanout out{{{a.ctx.get_executor(), &a.srv}, {b.ctx.get_executor(), &b.srv}}};

    void run() {
        a.ctx.poll();
        b.ctx.poll();
    }
};

} // namespace

TEST_F(ingest_fixture, batch_reaches_the_room_on_every_shard_as_published) {
    auto& on_a = a.subscriber("dev-1");
    auto& on_b = b.subscriber("dev-1");
    auto& other = b.subscriber("dev-2");
    ingest in({}, out);
    auto res = in.handle(post(R"([{"deviceId":"dev-1","tenantId":"t","v":1.50}, {"tenantId":"t","deviceId":"dev-1","v":2}])"));
    EXPECT_EQ(res.result(), http::status::accepted);
    EXPECT_EQ(res.body(), R"({"accepted":2})");
    run();
    std::vector<std::string> expected = {
        R"(42/devices,["telemetries",{"deviceId":"dev-1","tenantId":"t","v":1.50}])",
        R"(42/devices,["telemetries",{"tenantId":"t","deviceId":"dev-1","v":2}])"};
    EXPECT_EQ(a.received(on_a), expected);
    EXPECT_EQ(b.received(on_b), expected);
    EXPECT_TRUE(b.received(other).empty());
    EXPECT_EQ(out.stats().telemetries_in, 2U);
    EXPECT_EQ(out.stats().messages_out, 4U);
}

TEST_F(ingest_fixture, single_object_body) {
    auto& s = a.subscriber("d");
    ingest in({}, out);
    EXPECT_EQ(in.handle(post(R"({"deviceId":"d","tenantId":"t"})")).result(), http::status::accepted);
    run();
    EXPECT_EQ(a.received(s).size(), 1U);
}

TEST_F(ingest_fixture, a_bad_element_refuses_the_whole_batch) {
    auto& s = a.subscriber("d");
    ingest in({}, out);
    auto res = in.handle(post(R"([{"deviceId":"d","tenantId":"t"},{"deviceId":"d"}])"));
    EXPECT_EQ(res.result(), http::status::bad_request);
    auto body = boost::json::parse(res.body()).as_object();
    EXPECT_EQ(body.at("error"), "bad_request");
    EXPECT_EQ(body.at("index"), 1);
    run();
    EXPECT_TRUE(a.received(s).empty()); // nothing of that request is delivered
}

TEST_F(ingest_fixture, every_refusal_status) {
    ingest in({}, out);
    EXPECT_EQ(in.handle(post("{not json")).result(), http::status::bad_request);
    EXPECT_EQ(in.handle(post("42")).result(), http::status::bad_request);
    EXPECT_EQ(in.handle(post("[1]")).result(), http::status::bad_request);
    EXPECT_EQ(in.handle(post(R"({"deviceId":"a b","tenantId":"t"})")).result(), http::status::bad_request);
    EXPECT_EQ(in.handle(post(R"({"deviceId":"d","tenantId":7})")).result(), http::status::bad_request);
    EXPECT_EQ(in.handle(post(R"({"deviceId":"d","tenantId":"t"})", "text/plain")).result(),
              http::status::unsupported_media_type);
    EXPECT_EQ(in.handle(post(R"({"deviceId":"d","tenantId":"t"})", "application/json; charset=utf-8")).result(),
              http::status::accepted);
    http_request get{http::verb::get, "/internal/v1/telemetries", 11};
    EXPECT_EQ(in.handle(get).result(), http::status::method_not_allowed);
}

TEST_F(ingest_fixture, ingest_token) {
    ingest in({"s3cret"}, out);
    std::string body = R"({"deviceId":"d","tenantId":"t"})";
    EXPECT_EQ(in.handle(post(body)).result(), http::status::unauthorized);
    EXPECT_EQ(in.handle(post(body, "application/json", "Bearer wrong!")).result(), http::status::unauthorized);
    EXPECT_EQ(in.handle(post(body, "application/json", "Bearer s3cret")).result(), http::status::accepted);
}

TEST(management_api_url, parses_http_and_https) {
    using kamea::app::authorization::parse_api_url;
    auto a = parse_api_url("http://127.0.0.1:3002");
    ASSERT_TRUE(a);
    EXPECT_FALSE(a->https);
    EXPECT_EQ(a->port, "3002");
    EXPECT_EQ(a->base_path, "");
    auto b = parse_api_url("https://api.example.com/v2/");
    ASSERT_TRUE(b);
    EXPECT_TRUE(b->https);
    EXPECT_EQ(b->port, "443");
    EXPECT_EQ(b->base_path, "/v2");
    EXPECT_FALSE(parse_api_url("ftp://x"));
    EXPECT_FALSE(parse_api_url("not a url"));
}
