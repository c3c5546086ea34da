#include "transport/cors.hpp"
#include "transport/websocket_frame.hpp"
#include "transport/websocket_handshake.hpp"

#include <boost/beast/http/fields.hpp>

#include <gtest/gtest.h>

using namespace kamea::transport;

namespace {

// A masked client frame.
std::string frame(std::uint8_t first, std::string_view payload, bool masked = true) {
    std::string f;
    f += static_cast<char>(first);
    std::uint8_t mask_bit = masked ? 0x80 : 0;
    if (payload.size() < 126) {
        f += static_cast<char>(mask_bit | payload.size());
    } else if (payload.size() <= 0xffff) {
        f += static_cast<char>(mask_bit | 126);
        f += static_cast<char>(payload.size() >> 8);
        f += static_cast<char>(payload.size() & 0xff);
    } else {
        f += static_cast<char>(mask_bit | 127);
        for (int i = 7; i >= 0; --i) {
            f += static_cast<char>((payload.size() >> (8 * i)) & 0xff);
        }
    }
    const char key[4] = {0x12, 0x34, 0x56, 0x78};
    if (masked) {
        f.append(key, 4);
    }
    for (std::size_t i = 0; i < payload.size(); ++i) {
        f += masked ? static_cast<char>(payload[i] ^ key[i % 4]) : payload[i];
    }
    return f;
}

struct collected {
    std::vector<std::pair<ws_opcode, std::string>> messages;
    std::uint16_t code = 0;
};

collected feed_all(frame_parser& p, std::string bytes, std::size_t chunk = 0) {
    collected c;
    auto on = [&](const ws_message& m) {
        c.messages.emplace_back(m.opcode,
                                m.opcode == ws_opcode::close ? std::to_string(m.close_code) : std::string(m.payload));
    };
    if (chunk == 0) {
        c.code = p.feed(bytes.data(), bytes.size(), on);
        return c;
    }
    for (std::size_t i = 0; i < bytes.size() && c.code == 0; i += chunk) {
        c.code = p.feed(bytes.data() + i, std::min(chunk, bytes.size() - i), on);
    }
    return c;
}

} // namespace

TEST(websocket_frame, parses_text_and_binary_in_any_chunking) {
    std::string stream =
        frame(0x81, "42[\"a\"]") + frame(0x82, std::string(300, '\x07')) + frame(0x81, std::string(70000, 'z'));
    for (std::size_t chunk : {0UL, 1UL, 3UL, 1000UL}) {
        frame_parser p(1000000);
        auto c = feed_all(p, stream, chunk);
        ASSERT_EQ(c.code, 0);
        ASSERT_EQ(c.messages.size(), 3U);
        EXPECT_EQ(c.messages[0].second, "42[\"a\"]");
        EXPECT_EQ(c.messages[1].first, ws_opcode::binary);
        EXPECT_EQ(c.messages[1].second.size(), 300U);
        EXPECT_EQ(c.messages[2].second, std::string(70000, 'z'));
        EXPECT_EQ(p.buffered(), 0U); // buffers are released between messages
    }
}

TEST(websocket_frame, reassembles_fragments_with_control_frames_between) {
    frame_parser p(1000);
    auto c = feed_all(p, frame(0x01, "4he") + frame(0x89, "hi") + frame(0x80, "llo"));
    ASSERT_EQ(c.code, 0);
    ASSERT_EQ(c.messages.size(), 2U);
    EXPECT_EQ(c.messages[0].first, ws_opcode::ping);
    EXPECT_EQ(c.messages[1].second, "4hello");
}

TEST(websocket_frame, close_frames_carry_their_code) {
    frame_parser p(1000);
    auto c = feed_all(p, frame(0x88, std::string("\x03\xe8", 2) + "bye"));
    ASSERT_EQ(c.code, 0);
    ASSERT_EQ(c.messages.size(), 1U);
    EXPECT_EQ(c.messages[0].second, "1000");
    frame_parser q(1000);
    EXPECT_EQ(feed_all(q, frame(0x88, "")).messages[0].second, "1005");
}

TEST(websocket_frame, protocol_errors_give_the_reference_close_codes) {
    struct bad_case {
        std::string bytes;
        std::uint16_t code;
    };
    std::vector<bad_case> cases = {
        {frame(0x81, "x", false), 1002},             // unmasked
        {frame(0x83, "x"), 1002},                    // reserved opcode
        {frame(0xc1, "x"), 1002},                    // RSV1 without extension
        {frame(0x80, "x"), 1002},                    // continuation first
        {frame(0x09, "x"), 1002},                    // fragmented ping
        {frame(0x89, std::string(126, 'x')), 1002},  // long control frame
        {frame(0x01, "a") + frame(0x81, "b"), 1002}, // new message mid-fragment
        {frame(0x81, "\xff\xfe"), 1007},             // invalid UTF-8
        {frame(0x81, "\xed\xa0\x80"), 1007},         // UTF-16 surrogate
        {frame(0x81, std::string(2000, 'a')), 1009}, // over the limit
        {frame(0x01, std::string(600, 'a')) + frame(0x80, std::string(600, 'a')), 1009},
        {frame(0x88, "\x03"), 1002},                     // 1-byte close payload
        {frame(0x88, std::string("\x03\xed", 2)), 1002}, // close code 1005 sent
    };
    for (auto& c : cases) {
        frame_parser p(1000);
        EXPECT_EQ(feed_all(p, c.bytes).code, c.code) << "case bytes size " << c.bytes.size();
    }
}

TEST(websocket_frame, utf8_validation) {
    EXPECT_TRUE(valid_utf8("plain"));
    EXPECT_TRUE(valid_utf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
    EXPECT_FALSE(valid_utf8("\xc0\xaf"));         // overlong
    EXPECT_FALSE(valid_utf8("\xf4\x90\x80\x80")); // past U+10FFFF
    EXPECT_FALSE(valid_utf8("\xe2\x82"));         // truncated
}

TEST(websocket_handshake, accept_key_of_rfc6455_example) {
    EXPECT_EQ(websocket_accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    EXPECT_FALSE(websocket_request_error("13", "dGhlIHNhbXBsZSBub25jZQ=="));
    EXPECT_TRUE(websocket_request_error("12", "dGhlIHNhbXBsZSBub25jZQ=="));
    EXPECT_TRUE(websocket_request_error("13", "short"));
}

TEST(cors, listed_origins_get_credentials_star_gets_any) {
    namespace http = boost::beast::http;
    cors_policy off({});
    http::fields none;
    off.apply("http://a.example", none);
    EXPECT_EQ(none.count(http::field::access_control_allow_origin), 0U);

    cors_policy listed({"http://a.example"});
    http::fields f;
    listed.apply("http://a.example", f);
    EXPECT_EQ(f[http::field::access_control_allow_origin], "http://a.example");
    EXPECT_EQ(f[http::field::access_control_allow_credentials], "true");
    http::fields other;
    listed.apply("http://evil.example", other);
    EXPECT_EQ(other.count(http::field::access_control_allow_origin), 0U);

    cors_policy any({"*"});
    http::fields star;
    any.apply("http://b.example", star);
    EXPECT_EQ(star[http::field::access_control_allow_origin], "*");
    EXPECT_EQ(star.count(http::field::access_control_allow_credentials), 0U);

    EXPECT_TRUE(origin_is_valid("http://a.example"));
    EXPECT_FALSE(origin_is_valid(std::string("http://a\x01", 9)));
}
