// The session state machine, driven with no sockets: a fake transport link records wakes,
// its deadlines run on a clock the test moves, and the io_context only runs posted closes.
#include "engineio/counters.hpp"
#include "engineio/registry.hpp"
#include "engineio/session.hpp"
#include "support/manual_clock.hpp"

#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

using namespace kamea::engineio;
using namespace std::chrono_literals;

namespace {

struct fake_link : transport_link {
    int wakes = 0;
    void wake() override { ++wakes; }
};

struct recording_handler : session_handler {
    std::vector<std::string> messages;
    std::vector<close_reason> closes;
    int before_close_calls = 0;
    session* target = nullptr;
    void on_message(std::string_view data, bool binary) override {
        messages.push_back((binary ? "bin:" : "") + std::string(data));
    }
    void before_close(close_reason) override {
        ++before_close_calls;
        target->send(make_text(packet_type::message, "bye"));
    }
    void on_close(close_reason r) override { closes.push_back(r); }
};

struct session_fixture : ::testing::Test {
    boost::asio::io_context ctx;
    kamea::test::manual_timers time; // before the sessions, which disarm into it
    registry sessions;
    session_options options;
    recording_handler* handler = nullptr;

    std::shared_ptr<session> make(transport_kind kind) {
        auto s = std::make_shared<session>(ctx.get_executor(), time.timers, "sid123", kind,
                                           std::make_shared<session_options>(options), handshake_info{});
        auto h = std::make_unique<recording_handler>();
        h->target = s.get();
        handler = h.get();
        s->set_handler(std::move(h));
        sessions.add(s);
        return s;
    }
};

} // namespace

TEST_F(session_fixture, open_packet_has_exactly_the_reference_keys) {
    auto s = make(transport_kind::polling);
    s->open();
    EXPECT_EQ(s->take_poll_payload(), R"(0{"sid":"sid123","upgrades":["websocket"],"pingInterval":25000,)"
                                      R"("pingTimeout":20000,"maxPayload":1000000})");
    auto w = make(transport_kind::websocket);
    std::vector<wire_ptr> out;
    w->open();
    w->take_queue(out);
    ASSERT_EQ(out.size(), 1U);
    EXPECT_NE(out[0]->payload().find(R"("upgrades":[])"), std::string_view::npos);
}

TEST_F(session_fixture, poll_joins_queued_packets_and_wakes_a_pending_get) {
    auto s = make(transport_kind::polling);
    fake_link get;
    EXPECT_EQ(s->attach_poll(&get), session::poll_result::ok);
    EXPECT_FALSE(s->poll_ready());
    s->send(make_text(packet_type::message, "hello"));
    s->send(make_binary(std::string("\x01\x02\x03\x04", 4)));
    EXPECT_GE(get.wakes, 1);
    EXPECT_TRUE(s->poll_ready());
    EXPECT_EQ(s->take_poll_payload(), "4hello\x1e"
                                      "bAQIDBA==");
}

// Splits a polling response into its packets (the test's own splitter, not the codec's).
std::vector<std::string> packets_of(const std::string& body) {
    std::vector<std::string> out;
    std::size_t start = 0;
    for (;;) {
        auto pos = body.find('\x1e', start);
        out.push_back(body.substr(start, pos - start));
        if (pos == std::string::npos) {
            return out;
        }
        start = pos + 1;
    }
}

std::vector<std::string> numbered(int from, int to) {
    std::vector<std::string> out;
    for (int i = from; i < to; ++i) {
        out.push_back("4m" + std::to_string(i));
    }
    return out;
}

TEST_F(session_fixture, a_poll_carries_at_most_16_packets_and_the_next_get_takes_the_rest) {
    // python-engineio drops a session whose polling payload has more than 16 packets.
    auto s = make(transport_kind::polling);
    std::size_t first_16 = 0;
    for (int i = 0; i < 40; ++i) {
        auto p = make_text(packet_type::message, "m" + std::to_string(i));
        first_16 += i < 16 ? p->bytes.size() : 0;
        s->send(p);
    }
    std::size_t all = s->queued_bytes();
    fake_link get;
    ASSERT_EQ(s->attach_poll(&get), session::poll_result::ok);
    EXPECT_EQ(packets_of(s->take_poll_payload()), numbered(0, 16));
    EXPECT_TRUE(s->poll_ready());
    EXPECT_EQ(s->queued_bytes(), all - first_16);
    ASSERT_EQ(s->attach_poll(&get), session::poll_result::ok);
    EXPECT_EQ(packets_of(s->take_poll_payload()), numbered(16, 32));
    ASSERT_EQ(s->attach_poll(&get), session::poll_result::ok);
    EXPECT_EQ(packets_of(s->take_poll_payload()), numbered(32, 40));
    EXPECT_FALSE(s->poll_ready());
    EXPECT_EQ(s->queued_bytes(), 0U);
    EXPECT_FALSE(s->closed());
}

TEST_F(session_fixture, a_capped_goodbye_keeps_its_order_and_the_close_comes_last) {
    auto s = make(transport_kind::polling);
    for (int i = 0; i < 20; ++i) {
        s->send(make_text(packet_type::message, "m" + std::to_string(i)));
    }
    s->close(close_reason::server_close); // queues "4bye" (before_close)
    fake_link get;
    s->attach_poll(&get);
    EXPECT_EQ(packets_of(s->take_poll_payload()), numbered(0, 16));
    EXPECT_EQ(sessions.size(), 1U);
    s->attach_poll(&get);
    auto rest = numbered(16, 20);
    rest.emplace_back("4bye");
    EXPECT_EQ(packets_of(s->take_poll_payload()), rest);
    s->attach_poll(&get);
    EXPECT_EQ(s->take_poll_payload(), "6\x1e"
                                      "1");
    EXPECT_EQ(sessions.size(), 0U);
}

TEST_F(session_fixture, a_capped_shutdown_keeps_a_slot_for_the_close_packet) {
    auto s = make(transport_kind::polling);
    for (int i = 0; i < 16; ++i) {
        s->send(make_text(packet_type::message, "m" + std::to_string(i)));
    }
    fake_link get;
    s->attach_poll(&get);
    s->close(close_reason::shutdown); // the close goes with the data, so 15 of them first
    EXPECT_EQ(packets_of(s->take_poll_payload()), numbered(0, 15));
    EXPECT_EQ(sessions.size(), 1U);
    s->attach_poll(&get);
    auto last = numbered(15, 16);
    last.emplace_back("1");
    EXPECT_EQ(packets_of(s->take_poll_payload()), last);
    EXPECT_EQ(sessions.size(), 0U);
}

TEST_F(session_fixture, a_session_already_gone_sends_15_packets_and_its_close) {
    auto s = make(transport_kind::polling);
    for (int i = 0; i < 20; ++i) {
        s->send(make_text(packet_type::message, "m" + std::to_string(i)));
    }
    fake_link first;
    fake_link second;
    ASSERT_EQ(s->attach_poll(&first), session::poll_result::ok);
    EXPECT_EQ(s->attach_poll(&second), session::poll_result::duplicate); // P6: the sid is gone
    auto body = numbered(0, 15);
    body.emplace_back("1");
    EXPECT_EQ(packets_of(s->take_poll_payload()), body);
    EXPECT_EQ(s->queued_bytes(), 0U);
}

TEST_F(session_fixture, second_concurrent_get_closes_the_session) {
    auto s = make(transport_kind::polling);
    fake_link first;
    fake_link second;
    ASSERT_EQ(s->attach_poll(&first), session::poll_result::ok);
    EXPECT_EQ(s->attach_poll(&second), session::poll_result::duplicate);
    EXPECT_TRUE(s->closed());
    EXPECT_EQ(sessions.size(), 0U); // later requests get "Session ID unknown"
    EXPECT_EQ(s->take_poll_payload(), "1");
}

TEST_F(session_fixture, post_delivers_messages_in_order) {
    auto s = make(transport_kind::polling);
    EXPECT_TRUE(s->on_post("4a\x1e"
                           "bAQ==\x1e"
                           "4b"));
    ASSERT_EQ(handler->messages.size(), 3U);
    EXPECT_EQ(handler->messages[0], "a");
    EXPECT_EQ(handler->messages[1], std::string("bin:\x01", 5));
    EXPECT_EQ(handler->messages[2], "b");
}

TEST_F(session_fixture, invalid_packet_in_a_post_closes_with_parse_error) {
    auto s = make(transport_kind::polling);
    EXPECT_FALSE(s->on_post("4a\x1e"
                            "x\x1e"
                            "4b"));
    EXPECT_EQ(handler->messages.size(), 1U); // decoding stops at the error (E7)
    ASSERT_EQ(handler->closes.size(), 1U);
    EXPECT_EQ(handler->closes[0], close_reason::parse_error);
}

TEST_F(session_fixture, client_ping_is_an_invalid_heartbeat_direction) {
    auto s = make(transport_kind::polling);
    s->on_post("2");
    EXPECT_TRUE(s->closed());
}

TEST_F(session_fixture, client_close_answers_the_pending_get_with_noop) {
    auto s = make(transport_kind::polling);
    fake_link get;
    s->attach_poll(&get);
    s->on_post("1");
    EXPECT_TRUE(s->closed());
    EXPECT_EQ(s->take_poll_payload(), "6");
    EXPECT_EQ(sessions.size(), 0U);
}

TEST_F(session_fixture, server_close_sends_goodbye_then_close_on_next_get) {
    auto s = make(transport_kind::polling);
    s->close(close_reason::server_close);
    EXPECT_EQ(handler->before_close_calls, 1);
    EXPECT_EQ(sessions.size(), 1U); // kept for the next GET (P10)
    fake_link get;
    s->attach_poll(&get);
    EXPECT_TRUE(s->poll_ready());
    // The goodbye goes alone, the close on the next GET (K4).
    EXPECT_EQ(s->take_poll_payload(), "4bye");
    EXPECT_EQ(sessions.size(), 1U);
    s->attach_poll(&get);
    EXPECT_EQ(s->take_poll_payload(), "6\x1e"
                                      "1");
    EXPECT_EQ(sessions.size(), 0U);
}

TEST_F(session_fixture, heartbeat_pings_then_times_out_without_pong) {
    options.ping_interval = 25000ms;
    options.ping_timeout = 20000ms;
    auto s = make(transport_kind::polling);
    s->open();
    s->take_poll_payload();
    time.advance(24999ms);
    EXPECT_FALSE(s->poll_ready()); // not a millisecond early
    time.advance(1ms);
    EXPECT_EQ(s->take_poll_payload(), "2");
    time.advance(5000ms);
    s->on_post("3"); // pong: the next ping comes a ping interval after it
    time.advance(24999ms);
    EXPECT_FALSE(s->poll_ready());
    time.advance(1ms);
    EXPECT_FALSE(s->closed());
    EXPECT_EQ(s->take_poll_payload(), "2");
    time.advance(19999ms); // no pong this time
    EXPECT_FALSE(s->closed());
    time.advance(1ms);
    EXPECT_TRUE(s->closed());
    ASSERT_FALSE(handler->closes.empty());
    EXPECT_EQ(handler->closes.back(), close_reason::ping_timeout);
    EXPECT_EQ(sessions.size(), 0U);
    EXPECT_EQ(time.timers.armed(), 0U); // nothing left behind
}

TEST_F(session_fixture, a_late_pong_is_ignored_and_an_early_one_does_not_reset_the_interval) {
    options.ping_interval = 1000ms;
    options.ping_timeout = 500ms;
    auto s = make(transport_kind::websocket);
    s->open();
    std::vector<wire_ptr> out;
    s->take_queue(out);
    std::string scratch;
    time.advance(400ms);
    s->on_packet(*decode_text("3", scratch)); // unasked: the ping still comes on time
    time.advance(600ms);
    out.clear();
    s->take_queue(out);
    ASSERT_EQ(out.size(), 1U);
    EXPECT_EQ(out[0]->payload(), "2");
    time.advance(500ms);
    EXPECT_TRUE(s->closed());
    s->on_packet(*decode_text("3", scratch)); // too late
    EXPECT_EQ(handler->closes.back(), close_reason::ping_timeout);
}

TEST_F(session_fixture, the_deadlines_of_many_sessions_fire_in_order_and_a_closed_one_is_disarmed) {
    options.ping_interval = 1000ms;
    std::vector<std::shared_ptr<session>> all;
    for (int i = 0; i < 3; ++i) {
        all.push_back(std::make_shared<session>(ctx.get_executor(), time.timers, "s" + std::to_string(i),
                                                transport_kind::websocket, std::make_shared<session_options>(options),
                                                handshake_info{}));
        all.back()->open();
        time.advance(100ms);
    }
    EXPECT_EQ(time.timers.armed(), 3U);
    all[1]->close(close_reason::server_close);
    EXPECT_EQ(time.timers.armed(), 2U);
    std::vector<wire_ptr> out;
    for (auto& s : all) {
        out.clear();
        s->take_queue(out); // the open packets
    }
    time.advance(700ms); // 1000 ms after the first open
    out.clear();
    all[0]->take_queue(out);
    EXPECT_EQ(out.size(), 1U);
    out.clear();
    all[2]->take_queue(out);
    EXPECT_TRUE(out.empty());
    time.advance(200ms);
    all[2]->take_queue(out);
    EXPECT_EQ(out.size(), 1U);
    all.clear(); // destroyed while armed: unlinked
    EXPECT_EQ(time.timers.armed(), 0U);
}

TEST_F(session_fixture, send_queue_limit_disconnects_a_slow_client) {
    options.max_send_queue = 100;
    auto s = make(transport_kind::websocket);
    fake_link ws;
    s->attach_websocket(&ws);
    s->send(make_text(packet_type::message, std::string(60, 'x')));
    EXPECT_FALSE(s->closed());
    s->send(make_text(packet_type::message, std::string(60, 'x')));
    EXPECT_EQ(s->queued_bytes(), 0U); // dropped at once
    ctx.poll();                       // the close is posted, never run inside send()
    EXPECT_TRUE(s->closed());
    EXPECT_EQ(handler->closes.back(), close_reason::slow_client);
}

namespace {
wire_ptr keyed(const std::string& data, const std::string& key) {
    return make_text(packet_type::message, {}, data, 0, key);
}
std::vector<std::string> payloads(const std::vector<wire_ptr>& out) {
    std::vector<std::string> v;
    for (const auto& p : out) {
        v.emplace_back(p->payload());
    }
    return v;
}
} // namespace

TEST_F(session_fixture, past_the_soft_limit_the_newest_of_a_key_replaces_the_queued_one) {
    options.conflate_after = 20; // each packet is 9 bytes (frame header, type, data)
    options.max_send_queue = 1000;
    auto s = make(transport_kind::websocket);
    fake_link ws;
    s->attach_websocket(&ws);
    std::vector<wire_ptr> out;
    s->send(keyed("a-0001", "dev-a"));
    s->take_queue(out); // a write in flight: from now on the client is not taking
    s->send(keyed("b-0001", "dev-b"));
    s->send(keyed("a-0002", "dev-a"));                   // past the limit, but no a queued: joins the queue
    s->send(keyed("a-0003", "dev-a"));                   // replaces a-0002 in its place
    s->send(make_text(packet_type::message, "unkeyed")); // never conflated
    s->send(keyed("b-0002", "dev-b"));                   // replaces b-0001
    s->send(keyed("c-0001", "dev-c"));                   // a key not queued yet joins the queue
    out.clear();
    s->take_queue(out);
    EXPECT_EQ(payloads(out), (std::vector<std::string>{"4b-0002", "4a-0003", "4unkeyed", "4c-0001"}));
    EXPECT_EQ(options.stats->conflated_packets.load(), 2U); // this test's own counters
    EXPECT_FALSE(s->closed());
    // The queue was taken: it starts over (nothing queued to replace).
    s->send(keyed("a-0004", "dev-a"));
    s->send(keyed("a-0005", "dev-a"));
    out.clear();
    s->take_queue(out);
    EXPECT_EQ(payloads(out), (std::vector<std::string>{"4a-0005"}));
}

TEST_F(session_fixture, a_burst_for_a_client_that_takes_it_is_not_conflated) {
    options.conflate_after = 20;
    auto s = make(transport_kind::websocket);
    fake_link ws;
    s->attach_websocket(&ws);
    for (int i = 0; i < 5; ++i) {
        s->send(keyed("a-000" + std::to_string(i), "dev-a")); // past the limit, but nothing in flight
    }
    std::vector<wire_ptr> out;
    s->take_queue(out);
    EXPECT_EQ(out.size(), 5U);
    s->on_written(45); // all written: not lagging any more
    for (int i = 5; i < 10; ++i) {
        s->send(keyed("a-000" + std::to_string(i), "dev-a"));
    }
    out.clear();
    s->take_queue(out);
    EXPECT_EQ(out.size(), 5U);

    auto p = make(transport_kind::polling); // a GET waiting takes everything
    fake_link get;
    p->attach_poll(&get);
    for (int i = 1; i <= 4; ++i) {
        p->send(keyed("a-000" + std::to_string(i), "dev-a"));
    }
    EXPECT_EQ(p->take_poll_payload(), "4a-0001\x1e"
                                      "4a-0002\x1e"
                                      "4a-0003\x1e"
                                      "4a-0004");

    options.conflate_after = 0; // off: never, whatever is queued
    auto off = make(transport_kind::websocket);
    off->attach_websocket(&ws);
    off->send(keyed("a-0000", "dev-a"));
    out.clear();
    off->take_queue(out); // in flight, as when lagging
    for (int i = 0; i < 50; ++i) {
        off->send(keyed("a-00" + std::to_string(10 + i), "dev-a"));
    }
    out.clear();
    off->take_queue(out);
    EXPECT_EQ(out.size(), 50U);
}

TEST_F(session_fixture, in_flight_bytes_count_towards_the_soft_limit_and_polling_conflates_without_a_get) {
    options.conflate_after = 20;
    auto s = make(transport_kind::websocket);
    fake_link ws;
    s->attach_websocket(&ws);
    s->send(keyed("a-0001", "dev-a"));
    s->send(keyed("a-0002", "dev-a"));
    std::vector<wire_ptr> out;
    s->take_queue(out);                // 18 bytes in flight, not written yet
    s->send(keyed("a-0003", "dev-a")); // nothing queued to replace: queued
    s->send(keyed("a-0004", "dev-a")); // replaces a-0003
    out.clear();
    s->take_queue(out);
    EXPECT_EQ(payloads(out), (std::vector<std::string>{"4a-0004"}));

    auto p = make(transport_kind::polling); // no GET waiting: the client is not taking
    for (int i = 1; i <= 6; ++i) {
        p->send(keyed("a-000" + std::to_string(i), "dev-a"));
    }
    // Two fit under 20 bytes; from the third on, the newest replaces the second.
    EXPECT_EQ(p->take_poll_payload(), "4a-0001\x1e"
                                      "4a-0006");
}

TEST_F(session_fixture, upgrade_probe_noop_then_switch) {
    auto s = make(transport_kind::polling);
    fake_link get;
    fake_link probe;
    s->attach_poll(&get);
    s->send(make_text(packet_type::message, "queued"));
    s->take_poll_payload(); // the GET took it
    s->attach_poll(&get);
    ASSERT_TRUE(s->begin_upgrade(&probe));
    EXPECT_FALSE(s->begin_upgrade(&probe)); // one upgrade at a time (U1)
    std::string scratch;
    EXPECT_EQ(s->on_probe_packet(*decode_text("2probe", scratch)), session::probe_action::reply_probe);
    EXPECT_TRUE(s->poll_ready());
    EXPECT_EQ(s->take_poll_payload(), "6"); // U3
    s->send(make_text(packet_type::message, "after"));
    EXPECT_EQ(s->on_probe_packet(*decode_text("5", scratch)), session::probe_action::upgraded);
    EXPECT_EQ(s->transport(), transport_kind::websocket);
    EXPECT_TRUE(s->is_active(&probe));
    std::vector<wire_ptr> out;
    s->take_queue(out); // what was buffered now goes over the WebSocket (U4)
    ASSERT_EQ(out.size(), 1U);
    EXPECT_EQ(out[0]->payload(), "4after");
    EXPECT_EQ(s->attach_poll(&get), session::poll_result::wrong_transport); // U7
}

TEST_F(session_fixture, other_packet_on_probe_aborts_the_upgrade) {
    auto s = make(transport_kind::polling);
    fake_link probe;
    ASSERT_TRUE(s->begin_upgrade(&probe));
    std::string scratch;
    EXPECT_EQ(s->on_probe_packet(*decode_text("4x", scratch)), session::probe_action::abort);
    s->abort_upgrade(&probe);
    EXPECT_EQ(s->transport(), transport_kind::polling);
    EXPECT_FALSE(s->upgrading());
}

TEST_F(session_fixture, upgrade_times_out) {
    options.upgrade_timeout = 10000ms;
    auto s = make(transport_kind::polling);
    fake_link probe;
    ASSERT_TRUE(s->begin_upgrade(&probe));
    time.advance(9999ms);
    EXPECT_TRUE(s->upgrading());
    time.advance(1ms);
    EXPECT_FALSE(s->upgrading());
    EXPECT_GE(probe.wakes, 1); // told to close itself (U6)
    EXPECT_FALSE(s->closed());
}

TEST_F(session_fixture, a_server_close_waits_30_s_for_a_get_to_take_it) {
    auto s = make(transport_kind::polling);
    s->open();
    s->take_poll_payload();
    s->close(close_reason::shutdown);
    time.advance(29999ms);
    EXPECT_EQ(sessions.size(), 1U); // a GET can still take the close (P10)
    time.advance(1ms);
    EXPECT_EQ(sessions.size(), 0U);
    EXPECT_EQ(time.timers.armed(), 0U);
}

TEST_F(session_fixture, sessions_are_numbered_in_the_order_they_open) {
    auto a = make(transport_kind::websocket);
    auto b = make(transport_kind::polling);
    EXPECT_GT(a->number(), 0U);
    EXPECT_EQ(b->number(), a->number() + 1); // the `conn` of their log lines
}

TEST_F(session_fixture, a_poll_gives_the_ingestion_stamps_of_what_it_carries) {
    auto s = make(transport_kind::polling);
    s->send(make_text(packet_type::message, "stamped", {}, 1234));
    s->send(make_text(packet_type::message, "not stamped"));
    s->send(make_text(packet_type::message, "stamped too", {}, 5678));
    std::vector<std::int64_t> stamps;
    EXPECT_EQ(s->take_poll_payload(&stamps), "4stamped\x1e"
                                             "4not stamped\x1e"
                                             "4stamped too");
    EXPECT_EQ(stamps, (std::vector<std::int64_t>{1234, 5678}));
}
