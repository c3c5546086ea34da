#pragma once
// What the Engine.IO endpoint's rules (engineio/endpoint_rules.hpp) need of one HTTP request,
// read from its header without sockets: the query parameters, the method, whether it is a
// valid WebSocket upgrade, the CORS headers. The server adds what only it knows (the session
// the sid names, whether it is stopping); the HTTP request fuzzer reads requests through the
// same functions (tests/fuzz/fuzz_http_request.cpp).

#include "engineio/endpoint_rules.hpp"

#include <boost/beast/http/message.hpp>
#include <boost/url/url_view.hpp>

#include <cstddef>
#include <optional>
#include <string>

namespace kamea::transport {

// E2: the Engine.IO query parameters (empty when absent).
struct query_params {
    std::string eio, transport, sid;
    bool b64 = false;
};

query_params parse_query(const boost::urls::url_view& url);

std::size_t header_count(const boost::beast::http::request_header<>& h);

// The request's own facts. `websocket_error` keeps the text that the facts' websocket_error
// views (why the upgrade is not valid RFC 6455), so it must outlive them.
engineio::endpoint_request request_facts(const boost::beast::http::request_header<>& req, const query_params& q,
                                         bool cors_enabled, std::optional<std::string>& websocket_error);

} // namespace kamea::transport
