#pragma once
// The per-socket event rate of /devices (contract section 9): a socket may send `rate` events a
// second with bursts of `burst`. An event past that is refused (bad_request, and an error ack
// if it asked for one); a socket that goes on, `burst` refusals in a row, is disconnected.

#include "core/token_bucket.hpp"

#include <atomic>
#include <cstdint>

namespace kamea::app {

struct event_rate_options {
    unsigned rate = 100; // events a second; 0 = no limit
    unsigned burst = 200;
};

enum class event_verdict : std::uint8_t { accept, refuse, disconnect };

class event_rate {
public:
    event_rate(event_rate_options o, core::token_bucket::clock::time_point now)
        : options_(o), bucket_(o.rate, o.burst, now) {}

    event_verdict on_event(core::token_bucket::clock::time_point now) {
        if (options_.rate == 0 || bucket_.take(now)) {
            refused_in_a_row_ = 0;
            return event_verdict::accept;
        }
        return ++refused_in_a_row_ >= options_.burst ? event_verdict::disconnect : event_verdict::refuse;
    }

private:
    event_rate_options options_;
    core::token_bucket bucket_;
    unsigned refused_in_a_row_ = 0;
};

// For /metrics: one set per process, shared by every shard's namespace.
struct event_rate_counters {
    std::atomic<std::uint64_t> refused{0};
    std::atomic<std::uint64_t> disconnects{0};
};

} // namespace kamea::app
