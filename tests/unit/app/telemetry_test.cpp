// Ingestion and fan-out without sockets: a request goes in, the same encoded packet reaches
// the sessions of the room on every shard (two io_contexts stand for two shards).
#include "app/authorization/management_api_client.hpp"
#include "app/telemetry/fanout.hpp"
#include "app/telemetry/ingest.hpp"
#include "app/telemetry/interest.hpp"
#include "app/telemetry/newest_store.hpp"
#include "bus/in_process_bus.hpp"
#include "support/manual_clock.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
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
    void on_connect(socketio::socket& s, const boost::json::object& auth, socketio::connect_reply reply) override {
        s.join(room_of({std::string(auth.at("tenant").as_string()), std::string(auth.at("device").as_string())}));
        reply.accept();
    }
    void on_event(socketio::socket&, const socketio::event&) override {}
};

struct shard_stub {
    boost::asio::io_context ctx;
    kamea::test::manual_timers time; // before the sessions, which disarm into it
    socketio::server srv{socketio::server_options{}};
    std::vector<std::shared_ptr<engineio::session>> sessions;
    engineio::registry registry; // the sessions, as the shard's transport lists them
    null_link link;

    shard_stub() { srv.add_namespace("/devices", std::make_unique<joiner>()); }

    engineio::session& subscriber(const std::string& device, const std::string& tenant = "t") {
        auto s = std::make_shared<engineio::session>(
            ctx.get_executor(), time.timers, "s", engineio::transport_kind::websocket,
            std::make_shared<engineio::session_options>(), engineio::handshake_info{});
        s->set_handler(srv.make_connection(*s));
        s->attach_websocket(&link);
        std::string connect = R"(0/devices,{"device":")" + device + R"(","tenant":")" + tenant + R"("})";
        s->on_packet({engineio::packet_type::message, false, connect});
        std::vector<engineio::wire_ptr> drain;
        s->take_queue(drain);
        sessions.push_back(s);
        registry.add(s);
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

// A bus that answers as told, to see ingestion's answers to each outcome.
struct scripted_bus : core::bus {
    core::publish_result answer = core::publish_result::confirmed;
    std::vector<core::device_key> watched, unwatched;
    std::vector<watch_handler> pending;
    bool hold = false; // keep publish answers for the test to give
    std::vector<publish_handler> held;
    void start(delivery_handler) override {}
    void publish(core::telemetry_batch, publish_handler done) override {
        if (hold) {
            held.push_back(std::move(done));
        } else {
            done(answer);
        }
    }
    void watch(const core::device_key& k, watch_handler done) override {
        watched.push_back(k);
        pending.push_back(std::move(done));
    }
    void unwatch(const core::device_key& k) override { unwatched.push_back(k); }
    core::bus_status status() const override { return {}; }
    void flush(std::function<void()> done) override { done(); }
    void stop(std::chrono::milliseconds) override {}
};

struct ingest_fixture : ::testing::Test {
    shard_stub a;
    shard_stub b;
    fanout out{"/devices", {{a.ctx.get_executor(), &a.srv}, {b.ctx.get_executor(), &b.srv}}};
    bus::in_process_bus in_process;
    boost::asio::io_context http_ctx;

    ingest_fixture() {
        in_process.start([this](core::telemetry_batch batch) { out.deliver(batch); });
    }

    void run() {
        a.ctx.poll();
        b.ctx.poll();
    }

    // Runs ingestion's coroutine to its answer, as the internal listener would.
    http_response handle(ingest& in, const http_request& req) {
        std::optional<http_response> res;
        boost::asio::co_spawn(
            http_ctx, [&]() -> boost::asio::awaitable<void> { res = co_await in.handle(req); }, boost::asio::detached);
        http_ctx.restart();
        http_ctx.run();
        return std::move(*res);
    }
};

} // namespace

TEST_F(ingest_fixture, batch_reaches_the_room_on_every_shard_as_published) {
    auto& on_a = a.subscriber("dev-1");
    auto& on_b = b.subscriber("dev-1");
    auto& other = b.subscriber("dev-2");
    ingest in({}, in_process);
    auto res = handle(
        in, post(R"([{"deviceId":"dev-1","tenantId":"t","v":1.50}, {"tenantId":"t","deviceId":"dev-1","v":2}])"));
    EXPECT_EQ(res.result(), http::status::accepted);
    EXPECT_EQ(res.body(), R"({"accepted":2})");
    run();
    std::vector<std::string> expected = {R"(42/devices,["telemetries",{"deviceId":"dev-1","tenantId":"t","v":1.50}])",
                                         R"(42/devices,["telemetries",{"tenantId":"t","deviceId":"dev-1","v":2}])"};
    EXPECT_EQ(a.received(on_a), expected);
    EXPECT_EQ(b.received(on_b), expected);
    EXPECT_TRUE(b.received(other).empty());
    EXPECT_EQ(out.stats().telemetries_in, 2U);
    EXPECT_EQ(out.stats().messages_out, 4U);
}

// Everyday efficiency: a loop with no session is not woken for a batch, and its fan-out
// position moves past the batch as though it had been (what a `last` subscriber reads).
struct skip_fixture : ::testing::Test {
    shard_stub a;
    shard_stub b;
    newest_store newest{1 << 20, 2};
    fanout out{"/devices",
               {{a.ctx.get_executor(), &a.srv, &a.registry}, {b.ctx.get_executor(), &b.srv, &b.registry}},
               {&newest}};

    // `n` telemetries of dev-1.
    static core::telemetry_batch batch(int n) {
        auto b = std::make_shared<std::vector<core::telemetry>>();
        for (int i = 0; i < n; ++i) {
            b->push_back({{"t", "dev-1"}, R"({"deviceId":"dev-1","tenantId":"t","n":)" + std::to_string(i) + "}"});
        }
        return b;
    }
    // Runs what was posted to a shard (a context that found no work is stopped: restarted).
    static std::size_t run(shard_stub& s) {
        s.ctx.restart();
        return s.ctx.poll();
    }
};

TEST_F(skip_fixture, a_shard_without_sessions_is_not_sent_the_batch) {
    auto& on_a = a.subscriber("dev-1");
    out.deliver(batch(2));
    EXPECT_EQ(run(b), 0U); // nothing was posted to b
    EXPECT_EQ(newest.cursor(1), 2U);
    EXPECT_EQ(newest.cursor(0), 0U); // a has it in its inbox
    EXPECT_GE(run(a), 1U);
    EXPECT_EQ(newest.cursor(0), 2U);
    EXPECT_EQ(a.received(on_a).size(), 2U);

    // Once b has a session, it is sent the next batch.
    auto& on_b = b.subscriber("dev-1");
    out.deliver(batch(2));
    EXPECT_GE(run(b), 1U);
    EXPECT_EQ(b.received(on_b).size(), 2U);
    EXPECT_EQ(newest.cursor(1), 4U);
    run(a);
    EXPECT_EQ(out.stats().messages_out, 6U);
}

// Skipping never moves the position past a batch still in the inbox.
TEST_F(skip_fixture, a_shard_with_batches_waiting_is_not_skipped) {
    auto& on_b = b.subscriber("dev-1");
    out.deliver(batch(1)); // b has a session: posted, not yet drained
    b.sessions.front()->on_transport_closed(engineio::close_reason::transport_close);
    run(b); // the session is gone, and so is the batch it was sent
    EXPECT_EQ(b.registry.live(), 0U);
    EXPECT_EQ(newest.cursor(1), 1U);
    out.deliver(batch(1));
    EXPECT_EQ(run(b), 0U);
    EXPECT_EQ(newest.cursor(1), 2U);
    EXPECT_TRUE(b.received(on_b).empty());
}

TEST_F(ingest_fixture, single_object_body) {
    auto& s = a.subscriber("d");
    ingest in({}, in_process);
    EXPECT_EQ(handle(in, post(R"({"deviceId":"d","tenantId":"t"})")).result(), http::status::accepted);
    run();
    EXPECT_EQ(a.received(s).size(), 1U);
}

TEST_F(ingest_fixture, after_stop_accepting_nothing_is_published_and_it_is_settled) {
    auto& s = a.subscriber("d");
    ingest in({}, in_process);
    EXPECT_TRUE(in.settled());
    in.stop_accepting();
    auto res = handle(in, post(R"({"deviceId":"d","tenantId":"t"})"));
    EXPECT_EQ(res.result(), http::status::service_unavailable);
    EXPECT_EQ(boost::json::parse(res.body()).at("message"), "the server is shutting down");
    EXPECT_TRUE(in.settled());
    run();
    EXPECT_TRUE(a.received(s).empty());
    EXPECT_EQ(in.stats().accepted, 0U);
}

TEST_F(ingest_fixture, a_publish_awaiting_the_bus_keeps_ingestion_unsettled) {
    scripted_bus slow;
    slow.hold = true;
    ingest in({}, slow);
    std::optional<http_response> res;
    auto req = post(R"({"deviceId":"d","tenantId":"t"})");
    boost::asio::co_spawn(
        http_ctx, [&]() -> boost::asio::awaitable<void> { res = co_await in.handle(req); }, boost::asio::detached);
    http_ctx.poll();
    ASSERT_EQ(slow.held.size(), 1U);
    in.stop_accepting();
    EXPECT_FALSE(in.settled()); // accepted before the stop: shutdown waits for its answer
    slow.held[0](core::publish_result::confirmed);
    http_ctx.restart();
    http_ctx.run();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->result(), http::status::accepted);
    EXPECT_TRUE(in.settled());
}

TEST_F(ingest_fixture, a_bad_element_refuses_the_whole_batch) {
    auto& s = a.subscriber("d");
    ingest in({}, in_process);
    auto res = handle(in, post(R"([{"deviceId":"d","tenantId":"t"},{"deviceId":"d"}])"));
    EXPECT_EQ(res.result(), http::status::bad_request);
    auto body = boost::json::parse(res.body()).as_object();
    EXPECT_EQ(body.at("error"), "bad_request");
    EXPECT_EQ(body.at("index"), 1);
    run();
    EXPECT_TRUE(a.received(s).empty()); // nothing of that request is delivered
}

TEST_F(ingest_fixture, every_refusal_status) {
    ingest in({}, in_process);
    EXPECT_EQ(handle(in, post("{not json")).result(), http::status::bad_request);
    EXPECT_EQ(handle(in, post("42")).result(), http::status::bad_request);
    EXPECT_EQ(handle(in, post("[1]")).result(), http::status::bad_request);
    EXPECT_EQ(handle(in, post(R"({"deviceId":"a b","tenantId":"t"})")).result(), http::status::bad_request);
    EXPECT_EQ(handle(in, post(R"({"deviceId":"d","tenantId":7})")).result(), http::status::bad_request);
    EXPECT_EQ(handle(in, post(R"({"deviceId":"d","tenantId":"t"})", "text/plain")).result(),
              http::status::unsupported_media_type);
    EXPECT_EQ(handle(in, post(R"({"deviceId":"d","tenantId":"t"})", "application/json; charset=utf-8")).result(),
              http::status::accepted);
    http_request get{http::verb::get, "/internal/v1/telemetries", 11};
    EXPECT_EQ(handle(in, get).result(), http::status::method_not_allowed);
}

TEST_F(ingest_fixture, ingest_token) {
    ingest in({{"old-token", "s3cret"}}, in_process);
    std::string body = R"({"deviceId":"d","tenantId":"t"})";
    EXPECT_EQ(handle(in, post(body)).result(), http::status::unauthorized);
    EXPECT_EQ(handle(in, post(body, "application/json", "Bearer wrong!")).result(), http::status::unauthorized);
    EXPECT_EQ(handle(in, post(body, "application/json", "Bearer s3cret")).result(), http::status::accepted);
    // Rotation: every token of the list is accepted.
    EXPECT_EQ(handle(in, post(body, "application/json", "Bearer old-token")).result(), http::status::accepted);
    EXPECT_EQ(handle(in, post(body, "application/json", "Bearer s3cre")).result(), http::status::unauthorized);
}

// Device ids are unique only within a tenant: the same id in another tenant is another room.
TEST_F(ingest_fixture, a_telemetry_reaches_only_its_own_tenant) {
    auto& tenant_a = a.subscriber("X", "tenant-a");
    auto& tenant_b = b.subscriber("X", "tenant-b");
    ingest in({}, in_process);
    EXPECT_EQ(handle(in, post(R"([{"deviceId":"X","tenantId":"tenant-b","v":"b"}])")).result(), http::status::accepted);
    run();
    EXPECT_TRUE(a.received(tenant_a).empty());
    EXPECT_EQ(b.received(tenant_b),
              std::vector<std::string>{R"(42/devices,["telemetries",{"deviceId":"X","tenantId":"tenant-b","v":"b"}])"});
}

TEST_F(ingest_fixture, the_answer_follows_the_bus) {
    scripted_bus bus;
    ingest in({}, bus);
    std::string body = R"([{"deviceId":"d","tenantId":"t"},{"deviceId":"e","tenantId":"t"}])";
    auto ok = handle(in, post(body));
    EXPECT_EQ(ok.result(), http::status::accepted);
    EXPECT_EQ(ok.body(), R"({"accepted":2})");
    bus.answer = core::publish_result::unavailable;
    auto down = handle(in, post(body));
    EXPECT_EQ(down.result(), http::status::service_unavailable);
    EXPECT_EQ(boost::json::parse(down.body()).at("error"), "unavailable");
    bus.answer = core::publish_result::failed;
    auto midway = handle(in, post(body));
    EXPECT_EQ(midway.result(), http::status::service_unavailable);
    EXPECT_NE(midway.body().find("a part may have been delivered"), std::string::npos);
    EXPECT_EQ(in.stats().accepted, 2U);
    EXPECT_EQ(in.stats().unavailable, 2U);
}

// One watch per shard and pair, however many holders; released when the last one leaves.
TEST(interest, one_watch_per_pair_until_the_last_holder_leaves) {
    boost::asio::io_context ctx;
    scripted_bus bus;
    auto guard = boost::asio::make_work_guard(ctx); // poll() more than once
    interest in(ctx.get_executor(), bus);
    core::device_key x{"t", "x"};
    std::vector<core::watch_result> told;
    auto record = [&](core::watch_result r) { told.push_back(r); };
    in.acquire(x, record);
    in.acquire(x, record);
    ASSERT_EQ(bus.watched.size(), 1U);
    EXPECT_TRUE(told.empty()); // nobody is told before the bus answers
    bus.pending.front()(core::watch_result::bound);
    ctx.poll();
    EXPECT_EQ(told, (std::vector<core::watch_result>{core::watch_result::bound, core::watch_result::bound}));
    // Already watched: asked again (a transient watch), told once the bus answers, then the
    // transient watch is given back, so the bus still counts one watch for this shard.
    in.acquire(x, record);
    ASSERT_EQ(bus.watched.size(), 2U);
    EXPECT_EQ(told.size(), 2U);
    bus.pending.back()(core::watch_result::bound);
    ctx.poll();
    EXPECT_EQ(told.size(), 3U);
    EXPECT_EQ(bus.unwatched, std::vector<core::device_key>{x});
    bus.unwatched.clear();
    in.release(x);
    in.release(x);
    EXPECT_TRUE(bus.unwatched.empty());
    in.release(x);
    EXPECT_EQ(bus.unwatched, std::vector<core::device_key>{x});
    EXPECT_EQ(in.pairs(), 0U);
    // The same device id in another tenant is another pair.
    in.acquire({"u", "x"}, record);
    EXPECT_EQ(bus.watched.size(), 3U);
    EXPECT_EQ(bus.watched.back(), (core::device_key{"u", "x"}));
}

// A pair watched while the bus was down: a later holder is not acknowledged on that stale
// "deferred" but when the bus says the pair is bound again (after the reconnect's re-bind).
TEST(interest, a_later_holder_waits_for_the_re_bind) {
    boost::asio::io_context ctx;
    scripted_bus bus;
    auto guard = boost::asio::make_work_guard(ctx); // poll() more than once
    interest in(ctx.get_executor(), bus);
    core::device_key x{"t", "x"};
    std::vector<core::watch_result> told;
    auto record = [&](core::watch_result r) { told.push_back(r); };
    in.acquire(x, record);
    bus.pending.front()(core::watch_result::deferred);
    ctx.poll();
    in.acquire(x, record);
    ctx.poll();
    EXPECT_EQ(told, std::vector<core::watch_result>{core::watch_result::deferred}); // the second waits
    bus.pending.back()(core::watch_result::bound);
    ctx.poll();
    EXPECT_EQ(told, (std::vector<core::watch_result>{core::watch_result::deferred, core::watch_result::bound}));
    EXPECT_EQ(bus.unwatched, std::vector<core::device_key>{x}); // the transient watch only
    // Everyone leaves while a re-ask is on its way: both watches are given back.
    in.acquire(x, record);
    in.release(x);
    in.release(x);
    in.release(x);
    EXPECT_EQ(bus.unwatched.size(), 1U);
    bus.pending.back()(core::watch_result::bound);
    ctx.poll();
    EXPECT_EQ(bus.unwatched.size(), 3U);
    EXPECT_EQ(in.pairs(), 0U);
}

TEST(interest, a_refused_watch_holds_nothing) {
    boost::asio::io_context ctx;
    scripted_bus bus;
    interest in(ctx.get_executor(), bus);
    core::device_key x{"t", "x"};
    std::vector<core::watch_result> told;
    in.acquire(x, [&](core::watch_result r) { told.push_back(r); });
    bus.pending.front()(core::watch_result::refused);
    ctx.poll();
    EXPECT_EQ(told, std::vector<core::watch_result>{core::watch_result::refused});
    EXPECT_EQ(in.pairs(), 0U);
    in.release(x); // a refused holder's release (it should not, but must be harmless)
    EXPECT_TRUE(bus.unwatched.empty());
}

TEST(interest, everyone_gone_before_the_bus_answered) {
    boost::asio::io_context ctx;
    scripted_bus bus;
    interest in(ctx.get_executor(), bus);
    core::device_key x{"t", "x"};
    in.acquire(x, [](core::watch_result) {});
    in.release(x);
    EXPECT_TRUE(bus.unwatched.empty()); // the watch is still on its way
    bus.pending.front()(core::watch_result::deferred);
    ctx.poll();
    EXPECT_EQ(bus.unwatched, std::vector<core::device_key>{x});
    EXPECT_EQ(in.pairs(), 0U);
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
