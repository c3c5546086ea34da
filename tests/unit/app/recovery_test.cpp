// Connection state recovery's parts without sockets: offsets, the replay buffer's exactness
// rule, and a waiting session's holds.
#include "app/recovery/offset.hpp"
#include "app/recovery/replay_buffer.hpp"
#include "app/recovery/session_store.hpp"
#include "socketio/packet.hpp"

#include <gtest/gtest.h>

using namespace kamea;
using namespace kamea::app::recovery;
using namespace std::chrono_literals;

namespace {

engineio::wire_ptr telemetry_packet(std::string_view json, std::string_view offset) {
    return socketio::make_packet(socketio::packet_type::event, "/devices",
                                 std::string(R"(["telemetries",)") + std::string(json) + ",\"" + std::string(offset) +
                                     "\"]");
}

struct fed_buffer {
    replay_buffer buffer;
    replay_buffer::clock::time_point now{};
    std::uint64_t seq = 0;
    explicit fed_buffer(std::size_t budget = 1 << 20, replay_buffer::clock::duration age = 60s) : buffer(budget, age) {}

    // One telemetry of `room`, numbered next; returns its number.
    std::uint64_t publish(const std::string& room) {
        auto n = ++seq;
        auto packet = telemetry_packet("{}", std::to_string(n));
        buffer.record({{&room, &packet, n}}, now);
        return n;
    }
    std::vector<std::string> texts(const std::optional<std::vector<engineio::wire_ptr>>& packets) {
        std::vector<std::string> out;
        for (const auto& p : *packets) {
            out.emplace_back(p->payload());
        }
        return out;
    }
};

} // namespace

TEST(offset_codec, round_trips_its_own_offsets_and_refuses_others) {
    offset_codec codec("abc123");
    EXPECT_EQ(codec.encode(0), "abc123.0");
    EXPECT_EQ(codec.encode(36), "abc123.10");
    for (std::uint64_t seq : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{123456789}, ~std::uint64_t{0}}) {
        EXPECT_EQ(codec.decode(codec.encode(seq)), seq);
    }
    offset_codec other("xyz789");
    EXPECT_FALSE(codec.decode(other.encode(5)));
    for (std::string_view bad :
         {"", "abc123", "abc123.", "abc123.-1", "abc123.1x!", "abc123.01", "abc1231", "abc123.zzzzzzzzzzzzzzzzzzzzz"}) {
        EXPECT_FALSE(codec.decode(bad)) << bad;
    }
}

TEST(offset_codec, a_last_value_is_sent_without_its_offset) {
    auto p = telemetry_packet(R"({"deviceId":"d","v":"a,\"b"})", "abc123.7");
    EXPECT_EQ(without_offset(p)->payload(), R"(42/devices,["telemetries",{"deviceId":"d","v":"a,\"b"}])");
}

TEST(replay_buffer, replays_what_a_client_missed_across_its_rooms_in_order) {
    fed_buffer f;
    std::string a = "telemetries:t/a", b = "telemetries:t/b", other = "telemetries:t/c";
    f.buffer.track(a);
    f.buffer.track(b);
    f.publish(a);             // 1: the client had it
    auto had = f.publish(b);  // 2: its last offset
    f.publish(other);         // 3: not its room, not kept
    f.publish(b);             // 4
    f.publish(a);             // 5
    auto upto = f.publish(b); // 6
    f.publish(a);             // 7: past the shard's position, comes live
    auto missed = f.buffer.missed({{a, had}, {b, had}}, upto);
    ASSERT_TRUE(missed);
    EXPECT_EQ(f.texts(missed),
              (std::vector<std::string>{R"(42/devices,["telemetries",{},"4"])", R"(42/devices,["telemetries",{},"5"])",
                                        R"(42/devices,["telemetries",{},"6"])"}));
    // A room joined later than the offset counts from its join.
    auto from_join = f.buffer.missed({{a, 5}, {b, had}}, upto);
    EXPECT_EQ(from_join->size(), 2U);
}

TEST(replay_buffer, a_gap_is_no_recovery_but_a_quiet_room_losing_old_telemetries_is_not_a_gap) {
    fed_buffer f(1 << 20, 10s);
    std::string quiet = "telemetries:t/quiet", busy = "telemetries:t/busy";
    f.buffer.track(quiet);
    f.buffer.track(busy);
    auto last_quiet = f.publish(quiet);
    f.now += 11s;
    auto had = f.publish(busy); // ages the quiet room's one telemetry out
    EXPECT_EQ(f.buffer.evicted(), 1U);
    auto upto = f.publish(quiet);
    // The client had the quiet room's old telemetry: its going loses the client nothing.
    auto missed = f.buffer.missed({{quiet, std::max(had, last_quiet)}, {busy, had}}, upto);
    ASSERT_TRUE(missed);
    EXPECT_EQ(missed->size(), 1U);
    // A client that had not had it cannot be recovered exactly.
    EXPECT_FALSE(f.buffer.missed({{quiet, 0}}, upto));
}

TEST(replay_buffer, the_budget_evicts_the_oldest_first_and_counts_its_bytes) {
    fed_buffer probe;
    std::string room = "telemetries:t/a";
    probe.buffer.track(room);
    probe.publish(room);
    auto one = probe.buffer.bytes();
    ASSERT_GT(one, 0U);

    fed_buffer f(3 * one + one / 2);
    f.buffer.track(room);
    for (int i = 0; i < 5; ++i) {
        f.publish(room);
    }
    EXPECT_EQ(f.buffer.telemetries(), 3U);
    EXPECT_EQ(f.buffer.bytes(), 3 * one);
    EXPECT_FALSE(f.buffer.missed({{room, 1}}, 5)); // 2 is gone
    EXPECT_EQ(f.buffer.missed({{room, 2}}, 5)->size(), 3U);
}

TEST(replay_buffer, keeps_only_held_rooms_and_a_new_hold_has_lost_what_came_before) {
    fed_buffer f;
    std::string room = "telemetries:t/a";
    f.publish(room); // 1: no one holds the room
    EXPECT_EQ(f.buffer.telemetries(), 0U);
    f.buffer.track(room);
    EXPECT_FALSE(f.buffer.missed({{room, 0}}, 1)); // 1 was never kept
    EXPECT_TRUE(f.buffer.missed({{room, 1}}, 1)->empty());
    f.publish(room);
    f.buffer.untrack(room);
    f.publish(room); // not kept; the room goes as its last telemetry ages
    EXPECT_EQ(f.buffer.telemetries(), 1U);
    EXPECT_FALSE(f.buffer.tracking());
}

TEST(session_store, a_session_is_taken_once_and_its_holds_go_exactly_once) {
    session_store store;
    int released = 0;
    auto now = std::chrono::steady_clock::now();
    auto session = [&](std::string pid, std::chrono::steady_clock::time_point expires) {
        return recoverable_session{
            std::move(pid), "sid", {{{"t", "d"}, 3}}, expires, std::make_shared<holds>([&released] { ++released; })};
    };
    store.put(session("p1", now + 10s));
    store.put(session("p2", now + 10s));
    EXPECT_EQ(store.size(), 2U);
    EXPECT_EQ(store.subscriptions(), 2U);
    {
        auto taken = store.take("p1", now);
        ASSERT_TRUE(taken);
        EXPECT_EQ(taken->subscriptions.front().since, 3U);
        EXPECT_EQ(released, 0);
    }
    EXPECT_EQ(released, 1);
    EXPECT_FALSE(store.take("p1", now));       // one-shot
    EXPECT_FALSE(store.take("p2", now + 11s)); // expired: dropped, released
    EXPECT_EQ(released, 2);
    store.put(session("p3", now + 1s));
    store.expire("p3", now); // not yet
    EXPECT_EQ(store.size(), 1U);
    store.expire("p3", now + 1s);
    EXPECT_EQ(store.size(), 0U);
    EXPECT_EQ(released, 3);
    EXPECT_EQ(store.subscriptions(), 0U);
}
