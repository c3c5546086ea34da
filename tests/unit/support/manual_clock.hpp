#pragma once
// Session deadlines on a clock the test moves by hand: timing tests without sleeps.

#include "engineio/session_timers.hpp"

#include <chrono>

namespace kamea::test {

struct manual_clock : engineio::time_source {
    engineio::clock::time_point t{std::chrono::hours(1)};
    engineio::clock::time_point now() const override { return t; }
};

struct manual_timers {
    manual_clock clock;
    engineio::session_timers timers{clock};
    // Moves the clock and fires what became due.
    void advance(std::chrono::milliseconds d) {
        clock.t += d;
        timers.fire_due();
    }
};

} // namespace kamea::test
