#pragma once
// RFC 6455 section 4.2: checking an upgrade request and computing Sec-WebSocket-Accept.

#include <optional>
#include <string>
#include <string_view>

namespace kamea::transport {

std::string websocket_accept_key(std::string_view client_key);

// The reason an upgrade request is not a valid WebSocket handshake, or nullopt if it is.
std::optional<std::string> websocket_request_error(std::string_view version, std::string_view key);

} // namespace kamea::transport
