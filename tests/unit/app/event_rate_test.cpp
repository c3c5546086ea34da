#include "app/devices/event_rate.hpp"

#include <gtest/gtest.h>

namespace kamea::app {
namespace {

using namespace std::chrono_literals;
const auto t0 = core::token_bucket::clock::time_point{} + 1h;

TEST(event_rate, a_burst_is_accepted_then_events_are_refused) {
    event_rate r({10, 5}, t0);
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(r.on_event(t0), event_verdict::accept) << i;
    }
    EXPECT_EQ(r.on_event(t0), event_verdict::refuse);
}

TEST(event_rate, tokens_come_back_at_the_rate_and_never_beyond_the_burst) {
    event_rate r({10, 5}, t0);
    for (int i = 0; i < 5; ++i) {
        r.on_event(t0);
    }
    EXPECT_EQ(r.on_event(t0 + 50ms), event_verdict::refuse);  // half a token
    EXPECT_EQ(r.on_event(t0 + 100ms), event_verdict::accept); // one token at 10 a second
    EXPECT_EQ(r.on_event(t0 + 100ms), event_verdict::refuse);
    // A long pause refills to the burst, not more.
    int accepted = 0;
    for (int i = 0; i < 20; ++i) {
        accepted += r.on_event(t0 + 1h) == event_verdict::accept ? 1 : 0;
    }
    EXPECT_EQ(accepted, 5);
}

TEST(event_rate, a_socket_that_goes_on_is_disconnected_after_burst_refusals_in_a_row) {
    event_rate r({1, 3}, t0);
    for (int i = 0; i < 3; ++i) {
        r.on_event(t0);
    }
    EXPECT_EQ(r.on_event(t0), event_verdict::refuse);
    EXPECT_EQ(r.on_event(t0), event_verdict::refuse);
    EXPECT_EQ(r.on_event(t0), event_verdict::disconnect);
}

TEST(event_rate, an_accepted_event_resets_the_refusals_in_a_row) {
    event_rate r({1, 3}, t0);
    for (int i = 0; i < 3; ++i) {
        r.on_event(t0);
    }
    EXPECT_EQ(r.on_event(t0), event_verdict::refuse);
    EXPECT_EQ(r.on_event(t0), event_verdict::refuse);
    EXPECT_EQ(r.on_event(t0 + 1s), event_verdict::accept);
    EXPECT_EQ(r.on_event(t0 + 1s), event_verdict::refuse);
    EXPECT_EQ(r.on_event(t0 + 1s), event_verdict::refuse);
    EXPECT_EQ(r.on_event(t0 + 1s), event_verdict::disconnect);
}

TEST(event_rate, rate_zero_is_no_limit) {
    event_rate r({0, 1}, t0);
    for (int i = 0; i < 10000; ++i) {
        ASSERT_EQ(r.on_event(t0), event_verdict::accept);
    }
}

} // namespace
} // namespace kamea::app
