#include "bus/wanted_set.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <vector>

using kamea::bus::wanted_set;
using kamea::core::watch_result;
using namespace std::chrono_literals;

namespace {

// Collects what each watch was answered, in order.
struct answers_log {
    std::shared_ptr<std::vector<watch_result>> seen = std::make_shared<std::vector<watch_result>>();
    wanted_set::watch_handler handler() const {
        return [seen = seen](watch_result r) { seen->push_back(r); };
    }
};

void run(wanted_set::answers answers) {
    for (auto& a : answers) {
        a.done(a.result);
    }
}

struct wanted_set_test : ::testing::Test {
    wanted_set::clock::time_point t0 = wanted_set::clock::now();
    wanted_set set{3, 2000ms};
    answers_log log;

    void watch(const std::string& key, wanted_set::clock::time_point now) { run(set.watch(key, log.handler(), now)); }
};

} // namespace

TEST_F(wanted_set_test, the_first_watch_binds_and_is_answered_on_bind_ok) {
    set.set_up();
    watch("t.d", t0);
    EXPECT_TRUE(log.seen->empty());
    EXPECT_EQ(set.take_binds(512), std::vector<std::string>{"t.d"});
    EXPECT_TRUE(set.take_binds(512).empty()); // in flight: not sent twice
    auto answers = set.bind_ok("t.d", t0 + 5ms);
    ASSERT_EQ(answers.size(), 1U);
    EXPECT_EQ(answers[0].waited, std::chrono::nanoseconds(5ms));
    run(std::move(answers));
    EXPECT_EQ(*log.seen, std::vector<watch_result>{watch_result::bound});
    EXPECT_EQ(set.bound(), 1U);
}

TEST_F(wanted_set_test, a_second_watch_does_not_bind_again) {
    set.set_up();
    watch("t.d", t0);
    set.take_binds(512);
    watch("t.d", t0); // while the bind is in flight: answered with the first
    run(set.bind_ok("t.d", t0));
    EXPECT_EQ(log.seen->size(), 2U);
    watch("t.d", t0); // bound: answered at once
    EXPECT_EQ(log.seen->size(), 3U);
    EXPECT_TRUE(set.take_binds(512).empty());
    EXPECT_TRUE(std::all_of(log.seen->begin(), log.seen->end(), [](auto r) { return r == watch_result::bound; }));
}

TEST_F(wanted_set_test, the_last_unwatch_unbinds_after_the_linger) {
    set.set_up();
    watch("t.d", t0);
    watch("t.d", t0);
    set.take_binds(512);
    run(set.bind_ok("t.d", t0));
    set.unwatch("t.d", t0 + 1s);
    EXPECT_FALSE(set.next_expiry()); // one watcher left
    set.unwatch("t.d", t0 + 2s);
    ASSERT_TRUE(set.next_expiry());
    EXPECT_EQ(*set.next_expiry(), t0 + 4s);
    EXPECT_TRUE(set.take_unbinds(t0 + 3999ms, 512).empty());
    EXPECT_EQ(set.take_unbinds(t0 + 4s, 512), std::vector<std::string>{"t.d"});
    EXPECT_EQ(set.bound(), 1U); // until the unbind-ok
    EXPECT_EQ(set.size(), 1U);
    set.unbind_ok("t.d");
    EXPECT_EQ(set.size(), 0U);
    EXPECT_EQ(set.bound(), 0U);
}

TEST_F(wanted_set_test, a_watch_during_the_linger_cancels_the_unbind) {
    set.set_up();
    watch("t.d", t0);
    set.take_binds(512);
    run(set.bind_ok("t.d", t0));
    set.unwatch("t.d", t0);
    watch("t.d", t0 + 1s);
    EXPECT_EQ(log.seen->back(), watch_result::bound);
    EXPECT_TRUE(set.take_unbinds(t0 + 10s, 512).empty());
    EXPECT_EQ(set.bound(), 1U);
    // Unwatched again: a new linger from then.
    set.unwatch("t.d", t0 + 11s);
    EXPECT_TRUE(set.take_unbinds(t0 + 12s, 512).empty());
    EXPECT_EQ(set.take_unbinds(t0 + 13s, 512).size(), 1U);
}

TEST_F(wanted_set_test, a_watch_while_unbinding_binds_again_after_the_unbind_ok) {
    set.set_up();
    watch("t.d", t0);
    set.take_binds(512);
    run(set.bind_ok("t.d", t0));
    set.unwatch("t.d", t0);
    ASSERT_EQ(set.take_unbinds(t0 + 2s, 512).size(), 1U);
    watch("t.d", t0 + 2s);
    EXPECT_EQ(log.seen->size(), 1U); // waits for the new binding
    EXPECT_TRUE(set.take_binds(512).empty());
    set.unbind_ok("t.d");
    EXPECT_EQ(set.take_binds(512), std::vector<std::string>{"t.d"});
    run(set.bind_ok("t.d", t0 + 3s));
    EXPECT_EQ(log.seen->size(), 2U);
    EXPECT_EQ(log.seen->back(), watch_result::bound);
}

TEST_F(wanted_set_test, the_cap_refuses_new_keys_lingering_ones_included) {
    set.set_up();
    watch("a", t0);
    watch("b", t0);
    watch("c", t0);
    for (const auto& k : set.take_binds(512)) {
        run(set.bind_ok(k, t0));
    }
    watch("d", t0);
    EXPECT_EQ(log.seen->back(), watch_result::refused);
    watch("a", t0); // a known key is never refused
    EXPECT_EQ(log.seen->back(), watch_result::bound);
    set.unwatch("b", t0);
    watch("d", t0 + 1s); // "b" still lingers: still full
    EXPECT_EQ(log.seen->back(), watch_result::refused);
    set.unwatch("d", t0 + 1s); // a refused watch is not counted: no effect
    ASSERT_EQ(set.take_unbinds(t0 + 2s, 512), std::vector<std::string>{"b"});
    set.unbind_ok("b");
    watch("d", t0 + 3s);
    EXPECT_EQ(set.take_binds(512), std::vector<std::string>{"d"});
}

TEST_F(wanted_set_test, a_reconnect_replays_every_wanted_key) {
    set.set_up();
    watch("a", t0);
    watch("b", t0);
    watch("c", t0);
    for (const auto& k : set.take_binds(512)) {
        run(set.bind_ok(k, t0));
    }
    set.unwatch("c", t0); // lingering when the connection drops: forgotten
    run(set.set_down());
    EXPECT_EQ(set.bound(), 0U);
    EXPECT_EQ(set.size(), 2U);
    set.set_up();
    auto first = set.take_binds(1); // in batches
    auto rest = set.take_binds(512);
    ASSERT_EQ(first.size(), 1U);
    rest.insert(rest.end(), first.begin(), first.end());
    std::sort(rest.begin(), rest.end());
    EXPECT_EQ(rest, (std::vector<std::string>{"a", "b"}));
}

TEST_F(wanted_set_test, watches_are_deferred_while_down) {
    watch("t.d", t0);
    EXPECT_EQ(*log.seen, std::vector<watch_result>{watch_result::deferred});
    EXPECT_TRUE(set.take_binds(512).empty());
    set.set_up();
    EXPECT_EQ(set.take_binds(512), std::vector<std::string>{"t.d"});
    watch("t.d", t0);    // waits for the bind in flight
    run(set.set_down()); // lost before its bind-ok
    EXPECT_EQ(log.seen->back(), watch_result::deferred);
    EXPECT_EQ(log.seen->size(), 2U);
    set.unwatch("t.d", t0);
    set.unwatch("t.d", t0);
    EXPECT_EQ(set.size(), 0U); // nothing on the broker: no linger needed
}

TEST_F(wanted_set_test, stop_unbinds_every_bound_key) {
    set.set_up();
    watch("a", t0);
    watch("b", t0);
    auto binds = set.take_binds(512);
    run(set.bind_ok("a", t0));
    set.begin_stop();
    watch("c", t0); // the owner answers watches itself once stopping; the set takes no binds
    EXPECT_TRUE(set.take_binds(512).empty());
    EXPECT_EQ(set.take_stop_unbinds(512), std::vector<std::string>{"a"});
    EXPECT_FALSE(set.stop_settled());
    run(set.bind_ok("b", t0)); // in flight when the stop began
    EXPECT_EQ(set.take_stop_unbinds(512), std::vector<std::string>{"b"});
    set.unbind_ok("a");
    set.unbind_ok("b");
    EXPECT_TRUE(set.stop_settled());
}
