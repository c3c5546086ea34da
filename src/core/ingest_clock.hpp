#pragma once
// Ingestion times, for the ingestion-to-write latency histogram. Inside a process they are the
// steady clock's (never steps); between instances, on the bus, they travel as wall-clock time,
// since the steady clocks of two hosts are unrelated: the receiver turns it back into its own
// steady time, as exact as the hosts' clocks agree (NTP: well under a millisecond on one LAN).

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace kamea::core {

inline std::int64_t steady_now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

inline std::int64_t wall_now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// A steady time of this process as wall-clock nanoseconds since the Unix epoch.
inline std::int64_t to_wall_ns(std::int64_t steady_ns) {
    return wall_now_ns() - (steady_now_ns() - steady_ns);
}

// A wall-clock time (from any host) as a steady time of this process; a time ahead of this
// host's clock (skew) counts as now, so that no latency comes out negative.
inline std::int64_t from_wall_ns(std::int64_t wall_ns) {
    return steady_now_ns() - std::max<std::int64_t>(0, wall_now_ns() - wall_ns);
}

} // namespace kamea::core
