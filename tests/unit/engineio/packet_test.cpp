#include "engineio/packet.hpp"

#include <gtest/gtest.h>

using namespace kamea::engineio;

TEST(engineio_packet, decodes_every_text_type) {
    std::string scratch;
    for (char t = '0'; t <= '6'; ++t) {
        std::string text = std::string(1, t) + "data"; // the packet views this text
        auto p = decode_text(text, scratch);
        ASSERT_TRUE(p);
        EXPECT_EQ(static_cast<char>(p->type), t);
        EXPECT_EQ(p->data, "data");
        EXPECT_FALSE(p->binary);
    }
}

TEST(engineio_packet, decodes_base64_binary) {
    std::string scratch;
    auto p = decode_text("bAQIDBA==", scratch);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->type, packet_type::message);
    EXPECT_TRUE(p->binary);
    EXPECT_EQ(p->data, std::string("\x01\x02\x03\x04", 4));
}

TEST(engineio_packet, rejects_invalid_packets) {
    std::string scratch;
    EXPECT_FALSE(decode_text("", scratch));
    EXPECT_FALSE(decode_text("7", scratch));
    EXPECT_FALSE(decode_text("abc", scratch));
    EXPECT_FALSE(decode_text("b!!!", scratch));
}

TEST(engineio_packet, splits_polling_payloads) {
    auto parts = split_payload("4hello\x1e"
                               "bAQIDBA==\x1e"
                               "2");
    ASSERT_EQ(parts.size(), 3U);
    EXPECT_EQ(parts[0], "4hello");
    EXPECT_EQ(parts[1], "bAQIDBA==");
    EXPECT_EQ(parts[2], "2");
    EXPECT_EQ(split_payload("").size(), 1U);
}

TEST(engineio_packet, text_packet_is_a_complete_websocket_frame) {
    auto p = make_text(packet_type::message, "2[\"a\"", "]");
    EXPECT_EQ(p->payload(), "42[\"a\"]");
    ASSERT_EQ(p->header_size, 2);
    EXPECT_EQ(static_cast<unsigned char>(p->bytes[0]), 0x81); // FIN + text
    EXPECT_EQ(static_cast<unsigned char>(p->bytes[1]), 7);    // unmasked, length 7
    EXPECT_FALSE(p->binary);
}

TEST(engineio_packet, frame_lengths_use_the_extended_forms) {
    auto medium = make_text(packet_type::message, std::string(200, 'x'));
    EXPECT_EQ(medium->header_size, 4);
    EXPECT_EQ(static_cast<unsigned char>(medium->bytes[1]), 126);
    EXPECT_EQ(medium->payload().size(), 201U);
    auto large = make_binary(std::string(70000, 'y'));
    EXPECT_EQ(large->header_size, 10);
    EXPECT_EQ(static_cast<unsigned char>(large->bytes[0]), 0x82); // FIN + binary
    EXPECT_EQ(static_cast<unsigned char>(large->bytes[1]), 127);
    EXPECT_EQ(large->payload().size(), 70000U);
}

TEST(engineio_packet, polling_form_of_binary_is_base64) {
    std::string out;
    append_polling(*make_binary(std::string("\x01\x02\x03\x04", 4)), out);
    EXPECT_EQ(out, "bAQIDBA==");
    out.clear();
    append_polling(*make_text(packet_type::ping), out);
    EXPECT_EQ(out, "2");
}
