// The shard's deadline lists on a hand-moved clock: order across durations, re-arming,
// disarming, and when the host is told to wake earlier.
#include "engineio/session_timers.hpp"
#include "support/manual_clock.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

using namespace kamea::engineio;
using namespace std::chrono_literals;

namespace {

struct recorder : deadline_owner {
    std::string name;
    std::vector<std::string>* log = nullptr;
    std::function<void(deadline&)> then;
    deadline d{*this};
    void on_deadline(deadline& due) override {
        log->push_back(name);
        if (then) {
            then(due);
        }
    }
};

struct timers_fixture : ::testing::Test {
    kamea::test::manual_timers time;
    std::vector<std::string> fired;
    std::vector<clock::time_point> wakes;
    recorder a, b, c;
    timers_fixture() {
        for (auto* r : {&a, &b, &c}) {
            r->log = &fired;
        }
        a.name = "a";
        b.name = "b";
        c.name = "c";
        time.timers.on_earlier([this](clock::time_point at) { wakes.push_back(at); });
    }
    ~timers_fixture() override {
        for (auto* r : {&a, &b, &c}) {
            time.timers.disarm(r->d);
        }
    }
};

} // namespace

TEST_F(timers_fixture, deadlines_of_different_durations_fire_in_time_order) {
    time.timers.arm(a.d, 300ms);
    time.timers.arm(b.d, 100ms);
    time.advance(50ms);
    time.timers.arm(c.d, 100ms); // due at 150, after b, before a
    EXPECT_EQ(time.timers.next_due(), time.clock.t + 50ms);
    time.advance(250ms);
    EXPECT_EQ(fired, (std::vector<std::string>{"b", "c", "a"}));
    EXPECT_EQ(time.timers.armed(), 0U);
    EXPECT_EQ(time.timers.next_due(), clock::time_point::max());
}

TEST_F(timers_fixture, nothing_fires_early_and_rearming_moves_a_deadline) {
    time.timers.arm(a.d, 100ms);
    time.timers.arm(b.d, 100ms);
    time.advance(60ms);
    time.timers.arm(a.d, 100ms); // now due at 160, behind b
    time.advance(39ms);
    EXPECT_TRUE(fired.empty());
    time.advance(1ms);
    EXPECT_EQ(fired, (std::vector<std::string>{"b"}));
    time.advance(60ms);
    EXPECT_EQ(fired, (std::vector<std::string>{"b", "a"}));
}

TEST_F(timers_fixture, a_disarmed_deadline_never_fires_and_its_neighbours_do) {
    time.timers.arm(a.d, 100ms);
    time.timers.arm(b.d, 100ms);
    time.timers.arm(c.d, 100ms);
    time.timers.disarm(b.d); // from the middle of a list
    time.timers.disarm(b.d); // twice is harmless
    EXPECT_FALSE(b.d.armed());
    EXPECT_EQ(time.timers.armed(), 2U);
    time.advance(100ms);
    EXPECT_EQ(fired, (std::vector<std::string>{"a", "c"}));
}

TEST_F(timers_fixture, a_deadline_may_arm_itself_and_disarm_another_when_it_fires) {
    int rounds = 0;
    a.then = [&](deadline& d) {
        if (++rounds < 3) {
            time.timers.arm(d, 100ms);
        }
        time.timers.disarm(b.d);
    };
    time.timers.arm(a.d, 100ms);
    time.timers.arm(b.d, 100ms); // same instant, armed after a: a goes first and disarms it
    time.advance(1000ms);        // one call fires what is due at the time of the call
    EXPECT_EQ(fired, (std::vector<std::string>{"a"}));
    time.advance(0ms);
    EXPECT_EQ(fired, (std::vector<std::string>{"a"})); // a's next is at +100 from the call
    time.advance(100ms);
    time.advance(100ms);
    EXPECT_EQ(fired, (std::vector<std::string>{"a", "a", "a"}));
    EXPECT_FALSE(a.d.armed());
}

TEST_F(timers_fixture, the_host_is_told_only_when_the_earliest_deadline_moves_earlier) {
    auto t0 = time.clock.t;
    time.timers.arm(a.d, 1000ms);
    time.timers.arm(b.d, 2000ms); // later: the host's wake-up stands
    time.timers.arm(c.d, 500ms);  // earlier: it moves
    EXPECT_EQ(wakes, (std::vector<clock::time_point>{t0 + 1000ms, t0 + 500ms}));
    c.then = [&](deadline& d) { time.timers.arm(d, 10ms); }; // inside a fire: not told
    time.clock.t += 500ms;
    EXPECT_EQ(time.timers.fire_due(), t0 + 510ms); // returned instead
    EXPECT_EQ(wakes.size(), 2U);
}
