#include "core/base64.hpp"
#include "core/random_id.hpp"

#include <gtest/gtest.h>

#include <set>

using namespace kamea::core;

TEST(base64, round_trips_every_length) {
    std::string bytes;
    for (int i = 0; i < 64; ++i) {
        auto encoded = base64_encode(bytes);
        EXPECT_EQ(encoded.size() % 4, 0U);
        auto decoded = base64_decode(encoded);
        ASSERT_TRUE(decoded);
        EXPECT_EQ(*decoded, bytes);
        bytes += static_cast<char>(i * 37);
    }
}

TEST(base64, matches_the_suite_example) {
    EXPECT_EQ(base64_encode(std::string("\x01\x02\x03\x04", 4)), "AQIDBA==");
}

TEST(base64, rejects_invalid_text) {
    EXPECT_FALSE(base64_decode("abc"));  // length not a multiple of 4
    EXPECT_FALSE(base64_decode("ab$d")); // not in the alphabet
    EXPECT_FALSE(base64_decode("a=bc")); // padding in the middle
    EXPECT_FALSE(base64_decode("ab-_")); // URL-safe alphabet is not standard base64
}

TEST(random_id, is_20_url_safe_characters_and_unique) {
    std::set<std::string> seen;
    for (int i = 0; i < 1000; ++i) {
        auto id = random_id();
        ASSERT_EQ(id.size(), 20U);
        for (char c : id) {
            EXPECT_GE(base64url_value(c), 0);
        }
        EXPECT_TRUE(seen.insert(id).second);
    }
}

TEST(random_id, carries_its_shard_tag) {
    for (int tag = 0; tag < 64; ++tag) {
        EXPECT_EQ(random_id_tag(random_id(tag)), tag);
    }
    EXPECT_EQ(random_id_tag("short"), -1);
    EXPECT_EQ(random_id_tag("!!!!!!!!!!!!!!!!!!!!"), -1);
}
