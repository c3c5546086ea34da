#pragma once
// Engine.IO counters, read by /metrics. Relaxed atomics: each is bumped once per session
// event, never per message. One set per process in the server (the composition root makes it
// and puts it in the sessions' options); options made without one count alone (a test's).

#include <atomic>
#include <cstdint>

namespace kamea::engineio {

struct counters {
    std::atomic<std::uint64_t> sessions_opened{0};
    std::atomic<std::uint64_t> sessions_closed{0};
    std::atomic<std::uint64_t> slow_clients{0}; // cut off past --max-send-queue
    std::atomic<std::uint64_t> protocol_errors{0};
    std::atomic<std::uint64_t> ping_timeouts{0};
    // HTTP requests begun but not complete within --handshake-timeout (slow headers or body;
    // an idle keep-alive connection is not counted), and upgrades not finished in time.
    std::atomic<std::uint64_t> request_timeouts{0};
    std::atomic<std::uint64_t> upgrade_timeouts{0};
    // Not delivered: to a client cut off as slow, or left over when a polling session was gone.
    std::atomic<std::uint64_t> dropped_packets{0};
    // Replaced in a lagging session's queue by a newer one of the same device (--conflate-after).
    std::atomic<std::uint64_t> conflated_packets{0};
    std::atomic<std::int64_t> polling_sessions{0};
    std::atomic<std::int64_t> websocket_sessions{0};
};

} // namespace kamea::engineio
