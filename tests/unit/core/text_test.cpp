#include "core/text.hpp"

#include <gtest/gtest.h>

using kamea::core::trim;

TEST(trim, removes_http_whitespace_at_both_ends_only) {
    EXPECT_EQ(trim(" \ttimeout=5 \t"), "timeout=5");
    EXPECT_EQ(trim("a b"), "a b");
    EXPECT_EQ(trim("  "), "");
    EXPECT_EQ(trim(""), "");
    EXPECT_EQ(trim("\r\nx\r\n"), "\r\nx\r\n"); // not HTTP whitespace
}

TEST(trim, takes_the_characters_to_remove) {
    EXPECT_EQ(trim("\r\n amqp://h \n", " \t\r\n"), "amqp://h");
    EXPECT_EQ(trim("  Bearer x  ", " "), "Bearer x");
    static_assert(trim(" a ") == "a");
}
