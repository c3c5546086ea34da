#pragma once
// Closing a TCP connection with request bytes still unread makes the kernel send a reset,
// which can destroy what was written last (a 413, a WebSocket close frame and the DISCONNECT
// before it) before the client has read it. So both listeners close by lingering: half-close,
// then read and drop what the client still sends until it closes too, within these bounds.

#include <chrono>
#include <cstddef>

namespace kamea::transport {

inline constexpr std::chrono::seconds linger_time{2};
inline constexpr std::size_t linger_bytes = std::size_t{4} * 1024 * 1024;

} // namespace kamea::transport
