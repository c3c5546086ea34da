#pragma once
// The public listener: accepts TCP connections, spreads them over the shards, reads HTTP
// requests and routes them: the Engine.IO endpoint (polling, WebSocket, upgrade) or the
// application's extra routes (/doc, ...).

#include "engineio/session.hpp"
#include "transport/shard.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace kamea::transport {

using http_request = boost::beast::http::request<boost::beast::http::string_body>;
using http_response = boost::beast::http::response<boost::beast::http::string_body>;
// Answers a request outside the Engine.IO paths, or nullopt for 404. A coroutine, so that a
// route may wait (ingestion waits for the bus's confirmation); it runs on the connection's
// shard, and the request outlives it.
using route_handler = std::function<boost::asio::awaitable<std::optional<http_response>>(const http_request&)>;

struct http_server_options {
    std::chrono::milliseconds handshake_timeout{10000};
    std::size_t max_connections = 100000;
    std::size_t max_connections_per_ip = 0;
    // Live sessions opened over polling from one address (0 = unlimited): they hold state
    // without holding a connection, so the connection limits do not bound them.
    std::size_t max_polling_sessions_per_ip = 0;
    std::size_t max_body = 1000000; // for routes other than the Engine.IO endpoint
    // A request's line and headers, in bytes and in fields: past either, 431 and the end of
    // the connection (Beast bounds the bytes as it parses; the fields are counted after).
    std::size_t max_header_bytes = std::size_t{16} * 1024;
    std::size_t max_headers = 100;
    engineio::session_options session;
    std::vector<std::string> cors_origins;
    // H3: name of the cookie carrying the sid on the polling handshake, for sticky load
    // balancing (empty = no cookie, the reference's default).
    std::string cookie_name;
    bool conformance = false;     // also serve the raw Engine.IO echo at /engine.io/
    bool engine_endpoints = true; // false for the internal listener: routes only
    // A new connection goes to the first shard that is not busy (loop_load.hpp), rather
    // than to each shard in turn.
    bool fill_first = true;
};

struct http_server_stats {
    std::atomic<std::size_t> connections{0};
    std::atomic<std::size_t> rejected{0};
    std::atomic<std::size_t> polling_rejected{0};      // handshakes past max_polling_sessions_per_ip
    std::atomic<std::size_t> header_bytes_rejected{0}; // requests past max_header_bytes
    std::atomic<std::size_t> header_count_rejected{0}; // requests past max_headers
};

class http_server {
public:
    http_server(std::vector<std::unique_ptr<shard>>& shards, http_server_options options, route_handler routes = {});
    ~http_server();

    // Binds and starts accepting (on shard 0). Returns the bound port.
    std::uint16_t listen(const std::string& host, std::uint16_t port);
    // Shutdown: new Engine.IO sessions are refused ("Server is shutting down"), while the
    // requests of existing sessions are still served, on new and kept-alive connections
    // alike, so a polling client between two polls still gets its DISCONNECT.
    void drain();

    const http_server_stats& stats() const;

    struct state; // shared with the connection coroutines (http_server.cpp)

private:
    std::shared_ptr<state> state_;
};

} // namespace kamea::transport
