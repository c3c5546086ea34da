#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace kamea::app::authorization {

// How long the Management API keeps an idle connection open, from its `Keep-Alive` response
// header (`timeout=5, max=100`; RFC 9112 leaves it informative, servers such as Node.js and
// Apache send it). A pooled connection is not reused past it: the server closes it then, and
// a request racing that close is lost. Nothing when the header has no usable timeout.
std::optional<std::chrono::seconds> keep_alive_timeout(std::string_view header);

} // namespace kamea::app::authorization
