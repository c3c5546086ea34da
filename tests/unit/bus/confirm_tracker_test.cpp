#include "bus/confirm_tracker.hpp"

#include <gtest/gtest.h>

#include <vector>

using kamea::bus::confirm_tracker;
using kamea::core::publish_result;

namespace {

struct confirm_tracker_test : ::testing::Test {
    confirm_tracker tracker;
    std::vector<std::pair<int, publish_result>> results;

    void add(int id, std::size_t n) {
        tracker.add(n, [this, id](publish_result r) { results.emplace_back(id, r); });
    }
    void run(confirm_tracker::outcomes outcomes) {
        for (auto& o : outcomes) {
            o.done(o.result);
        }
    }
};

} // namespace

TEST_F(confirm_tracker_test, a_batch_is_confirmed_once_all_its_tags_are_acked) {
    add(1, 3); // tags 1-3
    add(2, 2); // tags 4-5
    run(tracker.settle(1, false, false));
    run(tracker.settle(2, false, false));
    EXPECT_TRUE(results.empty());
    run(tracker.settle(4, true, false)); // 3 and 4
    ASSERT_EQ(results.size(), 1U);
    EXPECT_EQ(results[0], std::make_pair(1, publish_result::confirmed));
    run(tracker.settle(5, false, false));
    ASSERT_EQ(results.size(), 2U);
    EXPECT_EQ(results[1], std::make_pair(2, publish_result::confirmed));
    EXPECT_TRUE(tracker.idle());
    EXPECT_EQ(tracker.acked(), 5U);
}

TEST_F(confirm_tracker_test, a_nack_fails_its_batch_only) {
    add(1, 2);
    add(2, 2);
    run(tracker.settle(2, false, true));
    run(tracker.settle(4, true, false));
    ASSERT_EQ(results.size(), 2U);
    EXPECT_EQ(results[0], std::make_pair(1, publish_result::failed));
    EXPECT_EQ(results[1], std::make_pair(2, publish_result::confirmed));
    EXPECT_EQ(tracker.nacked(), 1U);
    EXPECT_EQ(tracker.acked(), 3U);
}

TEST_F(confirm_tracker_test, out_of_order_acks_resolve_in_publish_order) {
    add(1, 1);
    add(2, 1);
    run(tracker.settle(2, false, false));
    EXPECT_TRUE(results.empty());
    run(tracker.settle(2, false, false)); // a duplicate is ignored
    run(tracker.settle(1, false, false));
    ASSERT_EQ(results.size(), 2U);
    EXPECT_EQ(results[0].first, 1);
    EXPECT_EQ(results[1].first, 2);
    EXPECT_EQ(tracker.acked(), 2U);
}

TEST_F(confirm_tracker_test, a_lost_channel_fails_what_is_pending_and_restarts_tags) {
    add(1, 2);
    run(tracker.settle(1, false, false));
    run(tracker.fail_all());
    ASSERT_EQ(results.size(), 1U);
    EXPECT_EQ(results[0], std::make_pair(1, publish_result::failed));
    add(2, 1); // tag 1 again on the new channel
    run(tracker.settle(1, false, false));
    ASSERT_EQ(results.size(), 2U);
    EXPECT_EQ(results[1], std::make_pair(2, publish_result::confirmed));
}
