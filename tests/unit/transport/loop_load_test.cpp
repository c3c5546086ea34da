// The busy share that connection placement reads (loop_load.hpp), with made-up turn times.
#include "transport/loop_load.hpp"

#include <gtest/gtest.h>

using kamea::transport::loop_load;
using std::chrono::milliseconds;

namespace {

loop_load::clock::time_point at(int ms) {
    return loop_load::clock::time_point(milliseconds(1000000 + ms));
}

} // namespace

TEST(loop_load, a_window_of_turns_gives_its_busy_share) {
    loop_load load;
    load.add(at(0), at(1)); // the first turn opens the first window
    EXPECT_EQ(load.permille(at(1)), 0U);
    for (int t = 10; t < 110; t += 10) {
        load.add(at(t), at(t + 6)); // 6 ms busy in every 10
    }
    // The window from 1 to 106 ms held ten turns of 6 ms: 60 of 105 ms.
    EXPECT_EQ(load.permille(at(106)), 571U);
    for (int t = 110; t < 220; t += 10) {
        load.add(at(t), at(t + 1)); // then 1 ms in every 10
    }
    EXPECT_EQ(load.permille(at(211)), 104U); // 11 of 105 ms
}

TEST(loop_load, a_loop_idle_since_its_last_window_counts_as_idle) {
    loop_load load;
    load.add(at(0), at(1));
    load.add(at(1), at(101)); // busy all the window
    load.add(at(101), at(201));
    EXPECT_EQ(load.permille(at(201)), 1000U);
    EXPECT_EQ(load.permille(at(350)), 1000U); // within two windows of it: still known
    EXPECT_EQ(load.permille(at(500)), 0U);    // then: idle since
}
