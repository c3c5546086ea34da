#include "core/json_text.hpp"

#include <gtest/gtest.h>

using kamea::core::split_array_elements;

TEST(json_text, splits_top_level_elements_keeping_their_bytes) {
    auto parts = split_array_elements(R"( [ {"a":1.50,"b":[1,2]} , "x,]" ,3e2,{"s":"}\"{"} ] )");
    ASSERT_EQ(parts.size(), 4U);
    EXPECT_EQ(parts[0], R"({"a":1.50,"b":[1,2]})");
    EXPECT_EQ(parts[1], R"("x,]")");
    EXPECT_EQ(parts[2], "3e2");
    EXPECT_EQ(parts[3], R"({"s":"}\"{"})");
    EXPECT_TRUE(split_array_elements("[]").empty());
    EXPECT_TRUE(split_array_elements("{}").empty());
}
