// Engine.IO messages arriving on a WebSocket (protocol.md W3, W8, U2-U5), with no socket: a
// session with fake links, each message fed in, the step and the session's state checked.
#include "engineio/websocket_inbound.hpp"
#include "support/manual_clock.hpp"

#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

using namespace kamea::engineio;

namespace {

struct fake_link : transport_link {
    void wake() override {}
};

struct recording_handler : session_handler {
    std::vector<std::string> messages;
    std::vector<close_reason> closes;
    void on_message(std::string_view data, bool binary) override {
        messages.push_back((binary ? "bin:" : "") + std::string(data));
    }
    void on_close(close_reason r) override { closes.push_back(r); }
};

struct websocket_inbound : ::testing::Test {
    boost::asio::io_context ctx;
    kamea::test::manual_timers time;
    recording_handler* handler = nullptr;
    std::string scratch;
    fake_link active;
    fake_link probe;

    std::shared_ptr<session> make(transport_kind kind) {
        auto s = std::make_shared<session>(ctx.get_executor(), time.timers, "sid", kind,
                                           std::make_shared<session_options>(), handshake_info{});
        auto h = std::make_unique<recording_handler>();
        handler = h.get();
        s->set_handler(std::move(h));
        return s;
    }

    websocket_step feed(session& s, const transport_link& link, bool is_probe, std::string_view payload,
                        bool binary = false) {
        return on_websocket_message(s, &link, is_probe, payload, binary, scratch);
    }
};

} // namespace

TEST_F(websocket_inbound, messages_reach_the_session_text_binary_and_base64) {
    auto s = make(transport_kind::websocket);
    s->attach_websocket(&active);
    EXPECT_EQ(feed(*s, active, false, "4hello"), websocket_step::none);
    EXPECT_EQ(feed(*s, active, false, std::string("\x01\x02", 2), true), websocket_step::none); // W3
    EXPECT_EQ(feed(*s, active, false, "bAQID"), websocket_step::none);                          // W3
    EXPECT_EQ(handler->messages,
              (std::vector<std::string>{"hello", std::string("bin:\x01\x02", 6), "bin:\x01\x02\x03"}));
    EXPECT_FALSE(s->closed());
}

TEST_F(websocket_inbound, an_invalid_packet_closes_the_session) { // W8
    auto s = make(transport_kind::websocket);
    s->attach_websocket(&active);
    EXPECT_EQ(feed(*s, active, false, "abc"), websocket_step::none);
    EXPECT_TRUE(s->closed());
    EXPECT_EQ(s->reason(), close_reason::parse_error);
}

TEST_F(websocket_inbound, a_link_that_is_no_longer_active_is_ignored) {
    auto s = make(transport_kind::websocket);
    fake_link stale;
    s->attach_websocket(&active);
    EXPECT_EQ(feed(*s, stale, false, "4late"), websocket_step::none);
    EXPECT_TRUE(handler->messages.empty());
}

TEST_F(websocket_inbound, probe_then_upgrade) { // U2, U4
    auto s = make(transport_kind::polling);
    ASSERT_TRUE(s->begin_upgrade(&probe));
    EXPECT_EQ(feed(*s, probe, true, "2probe"), websocket_step::reply_probe);
    EXPECT_EQ(probe_reply, "3probe");
    EXPECT_EQ(feed(*s, probe, true, "5"), websocket_step::upgraded);
    EXPECT_EQ(s->transport(), transport_kind::websocket);
    EXPECT_TRUE(s->is_active(&probe));
    EXPECT_EQ(feed(*s, probe, false, "4after"), websocket_step::none);
    EXPECT_EQ(handler->messages, std::vector<std::string>{"after"});
}

TEST_F(websocket_inbound, another_packet_on_the_probe_closes_it_and_keeps_polling) { // U5
    auto s = make(transport_kind::polling);
    ASSERT_TRUE(s->begin_upgrade(&probe));
    EXPECT_EQ(feed(*s, probe, true, "4early"), websocket_step::close);
    EXPECT_TRUE(handler->messages.empty());
    EXPECT_FALSE(s->closed());
    EXPECT_EQ(s->transport(), transport_kind::polling);
}

TEST_F(websocket_inbound, a_binary_frame_on_the_probe_closes_it) { // U5
    auto s = make(transport_kind::polling);
    ASSERT_TRUE(s->begin_upgrade(&probe));
    EXPECT_EQ(feed(*s, probe, true, "2probe", true), websocket_step::close);
    EXPECT_FALSE(s->closed());
}

TEST_F(websocket_inbound, an_invalid_packet_on_the_probe_closes_only_the_probe) {
    auto s = make(transport_kind::polling);
    ASSERT_TRUE(s->begin_upgrade(&probe));
    EXPECT_EQ(feed(*s, probe, true, "abc"), websocket_step::close);
    EXPECT_FALSE(s->closed());
}

TEST_F(websocket_inbound, a_probe_given_up_is_closed) { // U6, or another probe took over
    auto s = make(transport_kind::polling);
    ASSERT_TRUE(s->begin_upgrade(&probe));
    s->abort_upgrade(&probe);
    EXPECT_EQ(feed(*s, probe, true, "2probe"), websocket_step::close);
}
