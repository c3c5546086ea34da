// Ingestion times across instances: wall clock on the bus, the receiver's steady clock inside.
#include "core/ingest_clock.hpp"

#include <gtest/gtest.h>

using namespace kamea::core;
using namespace std::chrono_literals;

TEST(ingest_clock, a_steady_time_survives_the_trip_through_the_wall_clock) {
    auto steady = steady_now_ns() - std::chrono::nanoseconds(250ms).count(); // ingested 250 ms ago
    auto back = from_wall_ns(to_wall_ns(steady));
    // Only the clock reads between the two conversions separate them.
    EXPECT_LE(std::llabs(back - steady), std::chrono::nanoseconds(5ms).count());
    EXPECT_LT(back, steady_now_ns());
}

TEST(ingest_clock, a_time_from_a_host_whose_clock_is_ahead_counts_as_now) {
    auto ahead = wall_now_ns() + std::chrono::nanoseconds(3s).count();
    auto before = steady_now_ns();
    auto stamp = from_wall_ns(ahead);
    EXPECT_GE(stamp, before); // never in this host's future, so no negative latency
    EXPECT_LE(stamp, steady_now_ns());
}

TEST(ingest_clock, a_time_from_a_host_whose_clock_is_behind_reads_as_that_much_older) {
    auto behind = wall_now_ns() - std::chrono::nanoseconds(2s).count();
    auto age = steady_now_ns() - from_wall_ns(behind);
    EXPECT_GE(age, std::chrono::nanoseconds(2s).count());
    EXPECT_LT(age, std::chrono::nanoseconds(2s + 5ms).count());
}
