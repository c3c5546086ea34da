#pragma once
// Socket.IO gauges for /metrics (relaxed atomics, changed on join/leave only). One set per
// process in the server (the composition root makes it and gives it to every shard's
// server); a server made without one counts alone (a test's).

#include <atomic>
#include <cstdint>

namespace kamea::socketio {

struct counters {
    std::atomic<std::int64_t> sockets{0}; // namespace sockets
    std::atomic<std::int64_t> rooms{0};
};

} // namespace kamea::socketio
