// The Socket.IO connection over a real engineio::session with a fake transport: namespaces,
// state rules, binary reassembly, acks, rooms and server-side disconnects.
#include "engineio/registry.hpp"
#include "socketio/server.hpp"
#include "support/manual_clock.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

using namespace kamea;
using namespace kamea::socketio;

namespace {

struct fake_link : engineio::transport_link {
    void wake() override {}
};

struct echo_handler : namespace_handler {
    std::vector<std::string> disconnects;
    void on_connect(socketio::socket& s, const boost::json::object& auth, socketio::connect_reply reply) override {
        if (auth.contains("deny")) {
            reply.refuse(R"({"message":"denied"})");
            return;
        }
        if (auth.contains("later")) {
            later.push_back(reply); // answered by the test
            return;
        }
        s.join("everyone");
        reply.accept();
    }
    std::vector<socketio::connect_reply> later;
    void on_event(socketio::socket& s, const event& e) override {
        if (e.name == "echo") {
            s.emit("echo-back", e.args, e.attachments);
        } else if (e.name == "ack" && e.ack_id) {
            s.ack(*e.ack_id, e.args, e.attachments);
        } else if (e.name == "kick") {
            s.disconnect();
        } else if (e.name == "ask") {
            s.emit("question", "", {},
                   [&s](std::string_view answer, const std::vector<std::string>&) { s.emit("answer", answer); });
        }
    }
    void on_disconnect(socketio::socket&, std::string_view reason) override { disconnects.emplace_back(reason); }
};

struct connection_fixture : ::testing::Test {
    boost::asio::io_context ctx;
    kamea::test::manual_timers time; // before the sessions, which disarm into it
    // Declared before the sessions: sockets leave their rooms when a session goes away.
    server srv{server_options{std::chrono::milliseconds(200)}};
    engineio::registry sessions;
    echo_handler* handler = nullptr;
    std::shared_ptr<engineio::session> session;
    fake_link link;

    void SetUp() override {
        auto h = std::make_unique<echo_handler>();
        handler = h.get();
        srv.add_namespace("/", std::move(h));
        session = std::make_shared<engineio::session>(
            ctx.get_executor(), time.timers, "sid", engineio::transport_kind::websocket,
            std::make_shared<engineio::session_options>(), engineio::handshake_info{});
        session->set_handler(srv.make_connection(*session));
        sessions.add(session);
        session->attach_websocket(&link);
    }

    void post(std::string_view text) { session->on_packet({engineio::packet_type::message, false, text}); }
    void post_binary(std::string_view bytes) { session->on_packet({engineio::packet_type::message, true, bytes}); }
    std::vector<std::string> sent() {
        std::vector<engineio::wire_ptr> out;
        session->take_queue(out);
        std::vector<std::string> texts;
        for (auto& p : out) {
            texts.emplace_back((p->binary ? "bin:" : "") + std::string(p->payload()));
        }
        return texts;
    }
};

} // namespace

TEST_F(connection_fixture, connect_reply_has_only_a_fresh_sid) {
    post("0");
    auto out = sent();
    ASSERT_EQ(out.size(), 1U);
    EXPECT_TRUE(out[0].starts_with(R"(40{"sid":")"));
    EXPECT_EQ(out[0].find("\"sid\":\"sid\""), std::string::npos); // never the Engine.IO sid
    EXPECT_EQ(srv.socket_count(), 1U);
}

TEST_F(connection_fixture, unknown_namespace_and_refusal_keep_the_session) {
    post("0/random,");
    post(R"(0{"deny":1})");
    auto out = sent();
    ASSERT_EQ(out.size(), 2U);
    EXPECT_EQ(out[0], R"(44/random,{"message":"Invalid namespace"})");
    EXPECT_EQ(out[1], R"(44{"message":"denied"})");
    EXPECT_FALSE(session->closed());
}

TEST_F(connection_fixture, events_keep_raw_arguments_and_acks_answer_with_the_id) {
    post("0");
    sent();
    post(R"(2["echo",1,"2",{"3":[true]}])");
    post(R"(2456["ack",1.50,"x"])");
    auto out = sent();
    ASSERT_EQ(out.size(), 2U);
    EXPECT_EQ(out[0], R"(42["echo-back",1,"2",{"3":[true]}])");
    EXPECT_EQ(out[1], R"(43456[1.50,"x"])");
}

TEST_F(connection_fixture, binary_attachments_are_reassembled_and_echoed) {
    post("0");
    sent();
    post(R"(52-["echo",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}])");
    EXPECT_TRUE(sent().empty()); // waiting for attachments
    post_binary("\x01\x02");
    post_binary("\x03");
    auto out = sent();
    ASSERT_EQ(out.size(), 3U);
    EXPECT_EQ(out[0], R"(452-["echo-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}])");
    EXPECT_EQ(out[1], "bin:\x01\x02");
    EXPECT_EQ(out[2], "bin:\x03");
}

TEST_F(connection_fixture, text_while_attachments_expected_is_a_protocol_error) {
    post("0");
    post(R"(51-["echo",{"_placeholder":true,"num":0}])");
    post(R"(2["echo"])");
    EXPECT_TRUE(session->closed());
}

TEST_F(connection_fixture, binary_without_header_is_a_protocol_error) {
    post("0");
    post_binary("\x01");
    EXPECT_TRUE(session->closed());
}

TEST_F(connection_fixture, event_for_a_namespace_not_joined_closes) {
    post(R"(2["echo"])");
    EXPECT_TRUE(session->closed());
}

TEST_F(connection_fixture, connecting_twice_closes) {
    post("0");
    post("0");
    EXPECT_TRUE(session->closed());
}

TEST_F(connection_fixture, client_disconnect_leaves_rooms_and_keeps_the_session) {
    post("0");
    ASSERT_NE(srv.rooms().find("everyone"), nullptr);
    post("1");
    EXPECT_EQ(srv.rooms().find("everyone"), nullptr);
    EXPECT_EQ(srv.socket_count(), 0U);
    EXPECT_FALSE(session->closed());
    ASSERT_EQ(handler->disconnects.size(), 1U);
    EXPECT_EQ(handler->disconnects[0], "client namespace disconnect");
}

TEST_F(connection_fixture, server_disconnect_sends_disconnect_packet) {
    post("0");
    sent();
    post(R"(2["kick"])");
    auto out = sent();
    ASSERT_EQ(out.size(), 1U);
    EXPECT_EQ(out[0], "41");
    EXPECT_FALSE(session->closed());
}

TEST_F(connection_fixture, server_close_disconnects_every_namespace_first) {
    post("0");
    sent();
    session->close(engineio::close_reason::server_close);
    auto out = sent();
    ASSERT_EQ(out.size(), 1U);
    EXPECT_EQ(out[0], "41");
    EXPECT_EQ(srv.socket_count(), 0U);
}

// Contract section 10: a shutdown closes the transport alone, as the reference's io.close(),
// so that the stock client reconnects (a DISCONNECT would tell it not to).
TEST_F(connection_fixture, shutdown_closes_without_disconnect) {
    post("0");
    sent();
    session->close(engineio::close_reason::shutdown);
    EXPECT_TRUE(sent().empty());
    EXPECT_EQ(srv.socket_count(), 0U);
    EXPECT_EQ(handler->disconnects.back(), "server shutting down");
}

TEST_F(connection_fixture, server_ack_round_trip) {
    post("0");
    sent();
    post(R"(2["ask"])");
    auto out = sent();
    ASSERT_EQ(out.size(), 1U);
    EXPECT_EQ(out[0], R"(420["question"])");
    post(R"(30["yes",2])");
    post(R"(30["again"])"); // answered at most once: a second ack is ignored
    out = sent();
    ASSERT_EQ(out.size(), 1U);
    EXPECT_EQ(out[0], R"(42["answer",["yes",2]])");
}

TEST_F(connection_fixture, no_namespace_within_connect_timeout_closes) {
    time.advance(std::chrono::milliseconds(199));
    EXPECT_FALSE(session->closed());
    time.advance(std::chrono::milliseconds(1));
    EXPECT_TRUE(session->closed());
}

TEST(rooms_test, broadcast_reaches_members_and_leave_keeps_indexes_right) {
    boost::asio::io_context ctx;
    kamea::test::manual_timers time;
    server srv{server_options{}};
    srv.add_namespace("/", std::make_unique<echo_handler>());
    std::vector<std::shared_ptr<engineio::session>> sessions;
    std::vector<fake_link> links(5);
    for (int i = 0; i < 5; ++i) {
        auto s = std::make_shared<engineio::session>(
            ctx.get_executor(), time.timers, "s" + std::to_string(i), engineio::transport_kind::websocket,
            std::make_shared<engineio::session_options>(), engineio::handshake_info{});
        s->set_handler(srv.make_connection(*s));
        s->attach_websocket(&links[static_cast<std::size_t>(i)]);
        s->on_packet({engineio::packet_type::message, false, "0"});
        std::vector<engineio::wire_ptr> drain;
        s->take_queue(drain);
        sessions.push_back(s);
    }
    ASSERT_EQ(srv.rooms().find("everyone")->members.size(), 5U);
    sessions[1]->on_packet({engineio::packet_type::message, false, "1"}); // leaves from the middle
    sessions[4]->on_packet({engineio::packet_type::message, false, "1"});
    auto packet = make_packet(packet_type::event, "/", R"(["tick"])");
    EXPECT_EQ(srv.rooms().emit("everyone", {packet}), 3U);
    for (int i : {0, 2, 3}) {
        std::vector<engineio::wire_ptr> out;
        sessions[static_cast<std::size_t>(i)]->take_queue(out);
        ASSERT_EQ(out.size(), 1U);
        EXPECT_EQ(out[0].get(), packet.get()); // the same encoded bytes, not a copy
    }
    EXPECT_EQ(srv.rooms().emit("nobody", {packet}), 0U);
}

TEST_F(connection_fixture, a_connect_waiting_for_its_answer_is_not_joined) {
    post(R"(0{"later":1})");
    EXPECT_TRUE(sent().empty()); // not answered yet
    EXPECT_EQ(srv.socket_count(), 0U);
    post(R"(0{"later":1})");
    EXPECT_TRUE(session->closed()); // S10: a second CONNECT while the first waits
}

TEST_F(connection_fixture, a_later_accept_can_keep_an_old_sid_and_name_a_pid) {
    post(R"(0{"later":1})");
    ASSERT_EQ(handler->later.size(), 1U);
    connect_accept a;
    a.sid = "old-sid";
    a.pid = "the-pid";
    a.missed.push_back(make_packet(packet_type::event, "/", R"(["x",1,"o1"])"));
    handler->later[0].accept(a);
    handler->later[0].accept(a); // a second answer is dropped
    auto out = sent();
    ASSERT_EQ(out.size(), 2U);
    EXPECT_EQ(out[0], R"(42["x",1,"o1"])");
    EXPECT_EQ(out[1], R"(40{"sid":"old-sid","pid":"the-pid"})");
    EXPECT_EQ(srv.socket_count(), 1U);
    post(R"(2["echo",2])");
    EXPECT_EQ(sent(), std::vector<std::string>{R"(42["echo-back",2])"});
}

TEST_F(connection_fixture, a_later_refusal_is_a_connect_error_and_an_answer_after_close_is_dropped) {
    post(R"(0{"later":1})");
    handler->later[0].refuse(R"({"message":"no"})");
    EXPECT_EQ(sent(), std::vector<std::string>{R"(44{"message":"no"})"});
    post(R"(0{"later":1})");
    session->close(engineio::close_reason::transport_close);
    handler->later[1].accept();
    EXPECT_EQ(srv.socket_count(), 0U);
    EXPECT_TRUE(handler->disconnects.empty()); // it never joined
}

TEST(recoverable_reasons, only_a_lost_transport) {
    EXPECT_TRUE(is_recoverable("transport close"));
    EXPECT_TRUE(is_recoverable("transport error"));
    EXPECT_TRUE(is_recoverable("ping timeout"));
    EXPECT_FALSE(is_recoverable("server namespace disconnect"));
    EXPECT_FALSE(is_recoverable("client namespace disconnect"));
    EXPECT_FALSE(is_recoverable("parse error"));
    EXPECT_FALSE(is_recoverable("server shutting down"));
    EXPECT_FALSE(is_recoverable("slow client"));
}
