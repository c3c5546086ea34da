#include "socketio/packet.hpp"

#include <gtest/gtest.h>

using namespace kamea::socketio;

TEST(socketio_packet, decodes_the_protocol_examples) {
    auto r = decode(R"(2/admin,12["ev"])");
    ASSERT_TRUE(r.value);
    EXPECT_EQ(r.value->type, packet_type::event);
    EXPECT_EQ(r.value->nsp, "/admin");
    EXPECT_EQ(r.value->id, 12U);
    EXPECT_EQ(r.value->json, R"(["ev"])");

    r = decode(R"(51-["ev",{"_placeholder":true,"num":0}])");
    ASSERT_TRUE(r.value);
    EXPECT_EQ(r.value->type, packet_type::binary_event);
    EXPECT_EQ(r.value->attachments, 1U);
    EXPECT_EQ(r.value->nsp, "/");

    r = decode("0");
    ASSERT_TRUE(r.value);
    EXPECT_EQ(r.value->type, packet_type::connect);
    EXPECT_TRUE(r.value->value.is_null());
}

TEST(socketio_packet, namespace_with_and_without_trailing_comma) {
    auto c = decode("0/custom");
    auto d = decode("0/custom,");
    ASSERT_TRUE(c.value);
    ASSERT_TRUE(d.value);
    EXPECT_EQ(c.value->nsp, "/custom");
    EXPECT_EQ(d.value->nsp, "/custom");
}

TEST(socketio_packet, rejects_what_the_reference_rejects) {
    EXPECT_FALSE(decode("abc").value);                       // unknown type
    EXPECT_FALSE(decode("2{}").value);                       // object payload for EVENT
    EXPECT_FALSE(decode(R"(2abc["message"])").value);        // garbage ack id -> bad JSON
    EXPECT_FALSE(decode("2[]").value);                       // empty event array
    EXPECT_FALSE(decode(R"(2["connect"])").value);           // reserved name
    EXPECT_FALSE(decode(R"(2[{"a":1}])").value);             // name not string/number
    EXPECT_FALSE(decode(R"(0"token")").value);               // CONNECT payload not an object
    EXPECT_FALSE(decode(R"(1{"a":1})").value);               // DISCONNECT with payload
    EXPECT_FALSE(decode(R"(3{"a":1})").value);               // ACK payload not an array
    EXPECT_FALSE(decode(R"(5["a"])").value);                 // missing attachment count
    EXPECT_FALSE(decode(R"(511-["a"])").value);              // more than 10 attachments
    EXPECT_FALSE(decode(R"(2["a")").value);                  // truncated JSON
    EXPECT_FALSE(decode(R"(21234567890123456["a"])").value); // ack id beyond safe integers
    EXPECT_TRUE(decode(R"(2[1,"x"])").value);                // numeric event names are allowed
}

TEST(socketio_packet, a_refusal_says_why_in_the_socketio_category) {
    EXPECT_EQ(decode("abc").error, error::bad_type);
    EXPECT_EQ(decode("2{}").error, error::bad_payload);
    EXPECT_EQ(decode(R"(2["a")").error, error::bad_json);
    EXPECT_EQ(decode(R"(511-["a"])").error, error::bad_attachments);
    boost::system::error_code ec = decode("2{}").error;
    EXPECT_STREQ(ec.category().name(), "socketio");
    EXPECT_EQ(ec.message(), "invalid payload for the packet type");
    for (int e = static_cast<int>(error::bad_type); e <= static_cast<int>(error::unexpected_packet); ++e) {
        EXPECT_NE(make_error_code(static_cast<error>(e)).message(), "unknown socketio error") << e;
    }
}

TEST(socketio_packet, args_after_first_keeps_raw_text) {
    EXPECT_EQ(args_after_first(R"(["message",1,"2",{"3":[true]}])"), R"(1,"2",{"3":[true]})");
    EXPECT_EQ(args_after_first(R"(["only"])"), "");
    EXPECT_EQ(args_after_first(R"(["a,]\"",{"k":"v,]"}])"), R"({"k":"v,]"})");
    EXPECT_EQ(args_after_first(R"([ "a" , 1.50 ])"), "1.50");
}

TEST(socketio_packet, placeholders_must_be_in_range) {
    auto ok = decode(R"(52-["ev",{"_placeholder":true,"num":0},[{"_placeholder":true,"num":1}]])");
    ASSERT_TRUE(ok.value);
    EXPECT_TRUE(placeholders_valid(ok.value->value, 2));
    EXPECT_FALSE(placeholders_valid(ok.value->value, 1));
    auto bad = decode(R"(51-["ev",{"_placeholder":true,"num":-1}])");
    ASSERT_TRUE(bad.value);
    EXPECT_FALSE(placeholders_valid(bad.value->value, 1));
}

TEST(socketio_packet, encodes_heads_and_bodies) {
    EXPECT_EQ(encode_head(packet_type::event, "/"), "2");
    EXPECT_EQ(encode_head(packet_type::ack, "/admin", 12U), "3/admin,12");
    EXPECT_EQ(encode_head(packet_type::binary_event, "/x", std::nullopt, 2), "52-/x,");
    EXPECT_EQ(encode_event_body("ev", ""), R"(["ev"])");
    EXPECT_EQ(encode_event_body("q\"", "1,2"), R"(["q\"",1,2])");
    auto p = make_packet(packet_type::connect_error, "/random", R"({"message":"Invalid namespace"})");
    EXPECT_EQ(p->payload(), R"(44/random,{"message":"Invalid namespace"})");
}
