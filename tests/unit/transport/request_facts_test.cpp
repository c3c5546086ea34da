#include "transport/request_facts.hpp"

#include <boost/beast/http/empty_body.hpp>
#include <boost/url/parse.hpp>

#include <gtest/gtest.h>

namespace kamea::transport {
namespace {

namespace http = boost::beast::http;

query_params query_of(std::string_view target) {
    return parse_query(*boost::urls::parse_origin_form(target));
}

TEST(parse_query, reads_the_engine_io_parameters_and_ignores_the_rest) {
    auto q = query_of("/socket.io/?EIO=4&transport=polling&t=Nx1&sid=abc%2Bd&b64=1");
    EXPECT_EQ(q.eio, "4");
    EXPECT_EQ(q.transport, "polling");
    EXPECT_EQ(q.sid, "abc+d"); // decoded
    EXPECT_TRUE(q.b64);
    auto none = query_of("/socket.io/");
    EXPECT_EQ(none.eio, "");
    EXPECT_EQ(none.sid, "");
    EXPECT_FALSE(none.b64);
}

TEST(header_count, counts_every_field_repeated_ones_too) {
    http::request_header<> h;
    EXPECT_EQ(header_count(h), 0U);
    h.insert("X-A", "1");
    h.insert("X-A", "2");
    h.set(http::field::host, "h");
    EXPECT_EQ(header_count(h), 3U);
}

TEST(request_facts, a_valid_upgrade_with_cors) {
    http::request<http::empty_body> req{http::verb::get, "/socket.io/?EIO=4&transport=websocket", 11};
    req.set(http::field::connection, "Upgrade");
    req.set(http::field::upgrade, "websocket");
    req.set(http::field::sec_websocket_version, "13");
    req.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
    req.set(http::field::origin, "https://app.example");
    std::optional<std::string> storage;
    auto q = query_of(req.target());
    auto f = request_facts(req, q, true, storage);
    EXPECT_EQ(f.method, engineio::http_method::get);
    EXPECT_EQ(f.eio, "4");
    EXPECT_EQ(f.transport, "websocket");
    EXPECT_TRUE(f.upgrade);
    EXPECT_EQ(f.websocket_error, "");
    EXPECT_TRUE(f.origin_valid);
    EXPECT_FALSE(f.preflight);
    EXPECT_TRUE(f.cors_enabled);
    EXPECT_FALSE(f.session.has_value()); // the server's to fill
    EXPECT_EQ(engineio::decide(f).action, engineio::endpoint_action::handshake_websocket);
}

TEST(request_facts, an_upgrade_without_a_key_carries_why) {
    http::request<http::empty_body> req{http::verb::get, "/socket.io/?EIO=4&transport=websocket", 11};
    req.set(http::field::connection, "upgrade");
    req.set(http::field::upgrade, "websocket");
    req.set(http::field::sec_websocket_version, "13");
    std::optional<std::string> storage;
    auto q = query_of(req.target());
    auto f = request_facts(req, q, false, storage);
    EXPECT_TRUE(f.upgrade);
    ASSERT_TRUE(storage.has_value());
    EXPECT_EQ(f.websocket_error, *storage);
    EXPECT_EQ(engineio::decide(f).action, engineio::endpoint_action::refuse_upgrade);
}

TEST(request_facts, a_preflight_and_other_methods) {
    http::request<http::empty_body> req{http::verb::options, "/socket.io/?EIO=4&transport=polling", 11};
    req.set(http::field::access_control_request_method, "POST");
    std::optional<std::string> storage;
    auto q = query_of(req.target());
    auto f = request_facts(req, q, true, storage);
    EXPECT_EQ(f.method, engineio::http_method::options);
    EXPECT_TRUE(f.preflight);
    EXPECT_FALSE(f.upgrade);
    EXPECT_FALSE(storage.has_value());
    req.method(http::verb::put);
    EXPECT_EQ(request_facts(req, q, true, storage).method, engineio::http_method::other);
    req.method(http::verb::post);
    EXPECT_EQ(request_facts(req, q, true, storage).method, engineio::http_method::post);
}

} // namespace
} // namespace kamea::transport
