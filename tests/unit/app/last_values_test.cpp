#include "app/telemetry/last_values.hpp"
#include "app/telemetry/newest_store.hpp"

#include <gtest/gtest.h>

namespace {

using kamea::app::telemetry::last_values;
using kamea::app::telemetry::newest_store;
using kamea::core::device_key;
using kamea::engineio::make_text;
using kamea::engineio::packet_type;
using kamea::engineio::wire_ptr;
using std::chrono::seconds;

const device_key pair_a{"t1", "a"};
const std::string room_a = "telemetries:t1/a";
const std::string room_b = "telemetries:t1/b";

void record(newest_store& store, const std::string& room, const wire_ptr& p, std::uint64_t seq) {
    store.record({{&room, &p, seq}});
}

TEST(newest_store, keeps_the_newest_value_of_tracked_rooms_only) {
    newest_store store(1 << 20, 2);
    auto p1 = make_text(packet_type::message, "one");
    auto p2 = make_text(packet_type::message, "two");
    EXPECT_FALSE(store.tracking());
    record(store, room_a, p1, 1); // not tracked: not kept
    store.track(room_a);
    EXPECT_TRUE(store.tracking());
    EXPECT_EQ(store.newest(room_a).packet, nullptr); // nothing since it is tracked
    record(store, room_a, p1, 2);
    record(store, room_a, p2, 3);
    EXPECT_EQ(store.newest(room_a).packet, p2);
    EXPECT_EQ(store.newest(room_a).seq, 3U);
    EXPECT_EQ(store.bytes(), p2->bytes.size());
}

TEST(newest_store, tracked_by_several_shards_until_the_last_lets_go) {
    newest_store store(1 << 20, 2);
    auto p = make_text(packet_type::message, "x");
    store.track(room_a);
    store.track(room_a);
    record(store, room_a, p, 1);
    store.untrack(room_a);
    EXPECT_EQ(store.newest(room_a).packet, p);
    store.untrack(room_a);
    EXPECT_EQ(store.newest(room_a).packet, nullptr);
    EXPECT_EQ(store.bytes(), 0U);
    EXPECT_FALSE(store.tracking());
}

TEST(newest_store, past_the_budget_a_value_is_not_kept) {
    auto small = make_text(packet_type::message, std::string(100, 'a'));
    auto big = make_text(packet_type::message, std::string(300, 'b'));
    newest_store store(small->bytes.size() * 2 + 10, 1);
    store.track(room_a);
    store.track(room_b);
    record(store, room_a, small, 1);
    record(store, room_b, small, 2);
    record(store, room_b, big, 3); // over: room b has no value rather than a stale one
    EXPECT_EQ(store.newest(room_b).packet, nullptr);
    EXPECT_EQ(store.newest(room_a).packet, small);
    EXPECT_EQ(store.bytes(), small->bytes.size());
    EXPECT_EQ(store.not_kept(), 1U);
    record(store, room_b, small, 4); // fits again
    EXPECT_EQ(store.newest(room_b).packet, small);
}

TEST(last_values, tracks_from_the_first_watch_to_the_ttl_after_the_last) {
    newest_store store(1 << 20, 1);
    last_values v(store, 0, seconds(60));
    auto t0 = last_values::clock::time_point{} + seconds(1000);
    EXPECT_TRUE(v.watch(room_a, pair_a).has_value());
    EXPECT_FALSE(v.watch(room_a, pair_a).has_value()); // the same entry: no second hold
    EXPECT_TRUE(store.tracking());
    v.unwatch(room_a, t0);
    EXPECT_FALSE(v.next_expiry().has_value()); // one watcher left
    v.unwatch(room_a, t0);
    ASSERT_TRUE(v.next_expiry().has_value());
    EXPECT_EQ(*v.next_expiry(), t0 + seconds(60));
    EXPECT_TRUE(v.expire(t0 + seconds(59)).empty());
    EXPECT_TRUE(store.tracking()); // lingering: still recorded
    auto gone = v.expire(t0 + seconds(60));
    ASSERT_EQ(gone.size(), 1U);
    EXPECT_EQ(gone[0].key, pair_a);
    EXPECT_TRUE(gone[0].holds_interest);
    EXPECT_FALSE(store.tracking());
    EXPECT_EQ(v.size(), 0U);
}

TEST(last_values, watched_again_while_lingering_it_does_not_expire) {
    newest_store store(1 << 20, 1);
    last_values v(store, 0, seconds(10));
    auto t0 = last_values::clock::time_point{} + seconds(1000);
    v.watch(room_a, pair_a);
    v.unwatch(room_a, t0);
    EXPECT_FALSE(v.watch(room_a, pair_a).has_value());
    EXPECT_TRUE(v.expire(t0 + seconds(20)).empty());
    v.unwatch(room_a, t0 + seconds(30));
    EXPECT_TRUE(v.expire(t0 + seconds(39)).empty()); // the first row is stale
    EXPECT_EQ(v.expire(t0 + seconds(40)).size(), 1U);
}

TEST(last_values, a_ttl_of_zero_is_due_at_once) {
    newest_store store(1 << 20, 1);
    last_values v(store, 0, seconds(0));
    auto t0 = last_values::clock::time_point{} + seconds(5);
    v.watch(room_a, pair_a);
    v.unwatch(room_a, t0);
    EXPECT_EQ(v.expire(t0).size(), 1U);
}

TEST(last_values, a_refused_hold_has_nothing_to_release_and_generations_keep_entries_apart) {
    newest_store store(1 << 20, 1);
    last_values v(store, 0, seconds(0));
    auto t0 = last_values::clock::time_point{} + seconds(5);
    auto g1 = v.watch(room_a, pair_a);
    v.refuse(room_a, *g1);
    v.unwatch(room_a, t0);
    auto gone = v.expire(t0);
    ASSERT_EQ(gone.size(), 1U);
    EXPECT_FALSE(gone[0].holds_interest);
    auto g2 = v.watch(room_a, pair_a);
    ASSERT_TRUE(g2.has_value());
    EXPECT_NE(*g1, *g2);
    v.refuse(room_a, *g1); // the old entry's late answer: not this one's
    v.unwatch(room_a, t0);
    gone = v.expire(t0);
    ASSERT_EQ(gone.size(), 1U);
    EXPECT_TRUE(gone[0].holds_interest);
}

TEST(last_values, a_value_past_the_shards_fan_out_comes_through_the_room) {
    newest_store store(1 << 20, 2);
    last_values shard0(store, 0, seconds(60));
    last_values shard1(store, 1, seconds(60));
    shard0.watch(room_a, pair_a);
    auto p = make_text(packet_type::message, "x");
    record(store, room_a, p, 7);
    store.advance(0, 7); // shard 0 handed it to its rooms; shard 1 has it still in its inbox
    store.advance(1, 6);
    auto on0 = shard0.newest(room_a);
    EXPECT_EQ(on0.packet, p);
    EXPECT_TRUE(on0.send); // a socket joining on shard 0 must be sent it by hand
    auto on1 = shard1.newest(room_a);
    EXPECT_EQ(on1.packet, p);
    EXPECT_FALSE(on1.send); // on shard 1 the room brings it
    EXPECT_EQ(shard1.newest(room_b).packet, nullptr);
}

TEST(last_values, a_shard_going_away_untracks_its_rooms) {
    newest_store store(1 << 20, 1);
    {
        last_values v(store, 0, seconds(60));
        v.watch(room_a, pair_a);
        EXPECT_TRUE(store.tracking());
    }
    EXPECT_FALSE(store.tracking());
}

} // namespace
