#include "core/json_text.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <gtest/gtest.h>

#include <functional>
#include <random>

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

TEST(json_text, finds_the_end_of_strings_whose_quotes_or_backslashes_are_escaped) {
    auto parts = split_array_elements(R"(["a\\",{"k":"\\\"],"},"\"","\\\\",[",\"]"]])");
    ASSERT_EQ(parts.size(), 5U);
    EXPECT_EQ(parts[0], R"("a\\")");
    EXPECT_EQ(parts[1], R"({"k":"\\\"],"})");
    EXPECT_EQ(parts[2], R"("\"")");
    EXPECT_EQ(parts[3], R"("\\\\")");
    EXPECT_EQ(parts[4], R"([",\"]"])");
}

// Against Boost.JSON: arrays of values whose strings are full of the characters the splitter
// must see through, each element compared with its own serialization.
TEST(json_text, agrees_with_a_json_library_on_generated_arrays) {
    std::mt19937 rng(12345);
    const std::string alphabet = "ab\"\\,[]{}: \n/u";
    auto random_string = [&] {
        std::string s;
        std::size_t n = rng() % 12;
        for (std::size_t i = 0; i < n; ++i) {
            s += alphabet[rng() % alphabet.size()];
        }
        return s;
    };
    std::function<boost::json::value(int)> random_value = [&](int depth) -> boost::json::value {
        switch (depth > 2 ? rng() % 3 : rng() % 5) {
        case 0:
            return boost::json::value(random_string());
        case 1:
            return boost::json::value(static_cast<std::int64_t>(rng() % 1000) - 500);
        case 2:
            return boost::json::value(nullptr);
        case 3: {
            boost::json::array a;
            for (std::size_t i = rng() % 4; i > 0; --i) {
                a.push_back(random_value(depth + 1));
            }
            return a;
        }
        default: {
            boost::json::object o;
            for (std::size_t i = rng() % 4; i > 0; --i) {
                o[random_string()] = random_value(depth + 1);
            }
            return o;
        }
        }
    };
    for (int round = 0; round < 2000; ++round) {
        boost::json::array a;
        for (std::size_t i = rng() % 6; i > 0; --i) {
            a.push_back(random_value(0));
        }
        auto text = boost::json::serialize(a);
        auto parts = split_array_elements(text);
        ASSERT_EQ(parts.size(), a.size()) << text;
        for (std::size_t i = 0; i < a.size(); ++i) {
            EXPECT_EQ(parts[i], boost::json::serialize(a[i])) << text;
        }
    }
}
