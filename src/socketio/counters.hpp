#pragma once
// Process-wide Socket.IO gauges for /metrics (relaxed atomics, changed on join/leave only).

#include <atomic>
#include <cstdint>

namespace kamea::socketio {

struct counters {
    std::atomic<std::int64_t> sockets{0}; // namespace sockets
    std::atomic<std::int64_t> rooms{0};
};

counters& global_counters();

} // namespace kamea::socketio
