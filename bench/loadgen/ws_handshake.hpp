#pragma once
// The client's WebSocket opening handshake (RFC 6455 section 4.1), sans-I/O: the request
// text, and a check of the server's answer (101 and the right Sec-WebSocket-Accept).

#include "loadgen/ws_codec.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace kamea::loadgen {

struct upgrade_request {
    std::string text;            // the HTTP request to write
    std::string expected_accept; // what Sec-WebSocket-Accept must be
};

// `host` is the Host header value, `target` the request target (path and query).
upgrade_request make_upgrade_request(std::string_view host, std::string_view target, std::string_view extra_headers,
                                     mask_source& random);

enum class upgrade_status : std::uint8_t { incomplete, ok, bad_status, bad_accept, too_large };

struct upgrade_response {
    upgrade_status status = upgrade_status::incomplete;
    int http_status = 0;
    std::size_t header_size = 0; // bytes of `data` taken by the response head when complete
};

// Checks the response head at the start of `data` (which may continue with frames).
upgrade_response parse_upgrade_response(std::string_view data, std::string_view expected_accept);

// base64(SHA-1(key + RFC 6455 GUID))
std::string websocket_accept(std::string_view key);

} // namespace kamea::loadgen
