#include "app/authorization/token_expiry.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using kamea::app::authorization::to_steady;
using kamea::app::authorization::token_expiry;
using std::chrono::seconds;
using std::chrono::system_clock;

// base64url without padding, written out by hand for the cases below.
std::string b64url(const std::string& in) {
    static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                     static_cast<unsigned char>(in[i + 2]);
        for (int k = 18; k >= 0; k -= 6) {
            out.push_back(alphabet[(v >> k) & 63]);
        }
    }
    if (in.size() - i == 1) {
        unsigned v = static_cast<unsigned char>(in[i]) << 16;
        out.push_back(alphabet[(v >> 18) & 63]);
        out.push_back(alphabet[(v >> 12) & 63]);
    } else if (in.size() - i == 2) {
        unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
        out.push_back(alphabet[(v >> 18) & 63]);
        out.push_back(alphabet[(v >> 12) & 63]);
        out.push_back(alphabet[(v >> 6) & 63]);
    }
    return out;
}

std::string jwt(const std::string& claims) {
    return b64url(R"({"alg":"HS256","typ":"JWT"})") + "." + b64url(claims) + ".c2lnbmF0dXJl";
}

TEST(token_expiry, reads_the_exp_claim) {
    auto exp = token_expiry(jwt(R"({"sub":"u1","exp":1700000000})"));
    ASSERT_TRUE(exp.has_value());
    EXPECT_EQ(std::chrono::duration_cast<seconds>(exp->time_since_epoch()).count(), 1700000000);
}

TEST(token_expiry, every_padding_length_decodes) {
    // Claims of three lengths, so the payload ends with 0, 1 and 2 characters of padding.
    for (std::string pad : {"", "x", "xy"}) {
        auto exp = token_expiry(jwt(R"({"p":")" + pad + R"(","exp":42})"));
        ASSERT_TRUE(exp.has_value()) << pad;
        EXPECT_EQ(std::chrono::duration_cast<seconds>(exp->time_since_epoch()).count(), 42);
    }
}

TEST(token_expiry, a_fractional_exp_is_floored) {
    auto exp = token_expiry(jwt(R"({"exp":1700000000.9})"));
    ASSERT_TRUE(exp.has_value());
    EXPECT_EQ(std::chrono::duration_cast<seconds>(exp->time_since_epoch()).count(), 1700000000);
}

TEST(token_expiry, url_alphabet_characters_are_read) {
    auto token = jwt(R"({"a":"~~~???","exp":7})"); // "~~~" encodes with a '-', "???" with a '_'
    auto payload = token.substr(token.find('.') + 1);
    payload = payload.substr(0, payload.find('.'));
    ASSERT_NE(payload.find('-'), std::string::npos);
    ASSERT_NE(payload.find('_'), std::string::npos);
    auto exp = token_expiry(token);
    ASSERT_TRUE(exp.has_value());
    EXPECT_EQ(std::chrono::duration_cast<seconds>(exp->time_since_epoch()).count(), 7);
}

TEST(token_expiry, tokens_that_are_not_jwts_have_none) {
    EXPECT_FALSE(token_expiry("allow-user-1"));
    EXPECT_FALSE(token_expiry(""));
    EXPECT_FALSE(token_expiry("a.b"));
    EXPECT_FALSE(token_expiry("a.b.c.d"));
    EXPECT_FALSE(token_expiry("x..y"));
    EXPECT_FALSE(token_expiry("x.not base64!.y"));
    EXPECT_FALSE(token_expiry("x." + b64url("{\"exp\":1}") + "=.y")); // padding is not base64url
    EXPECT_FALSE(token_expiry("x.A.y"));                              // one character cannot be a byte
}

TEST(token_expiry, payloads_without_a_usable_exp_have_none) {
    EXPECT_FALSE(token_expiry(jwt(R"({"sub":"u1"})")));
    EXPECT_FALSE(token_expiry(jwt(R"({"exp":"1700000000"})")));
    EXPECT_FALSE(token_expiry(jwt(R"({"exp":-1})")));
    EXPECT_FALSE(token_expiry(jwt(R"({"exp":1e300})")));
    EXPECT_FALSE(token_expiry(jwt(R"([1700000000])")));
    EXPECT_FALSE(token_expiry(jwt(R"({"exp":17)")));
    EXPECT_FALSE(token_expiry(jwt("")));
}

TEST(token_expiry, an_oversized_token_is_not_read) {
    std::string claims = R"({"pad":")" + std::string(20000, 'x') + R"(","exp":5})";
    EXPECT_FALSE(token_expiry(jwt(claims)));
}

TEST(token_expiry, to_steady_keeps_the_distance_from_now) {
    auto system_now = system_clock::now();
    auto steady_now = std::chrono::steady_clock::now();
    EXPECT_EQ(to_steady(system_now + seconds(30), system_now, steady_now), steady_now + seconds(30));
    EXPECT_EQ(to_steady(system_now - seconds(5), system_now, steady_now), steady_now - seconds(5));
}

} // namespace
