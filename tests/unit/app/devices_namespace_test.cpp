#include "app/devices/devices_namespace.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

using kamea::app::bearer_token;

namespace {
boost::json::object auth(std::string_view json) {
    return boost::json::parse(json).as_object();
}
} // namespace

TEST(bearer_token, auth_payload_first_with_or_without_prefix) {
    EXPECT_EQ(bearer_token(auth(R"({"token":"abc"})"), ""), "abc");
    EXPECT_EQ(bearer_token(auth(R"({"token":"Bearer abc"})"), "Bearer other"), "abc");
}

TEST(bearer_token, falls_back_to_the_authorization_header) {
    EXPECT_EQ(bearer_token(auth("{}"), "Bearer xyz"), "xyz");
    EXPECT_EQ(bearer_token(auth(R"({"token":""})"), "Bearer xyz"), "xyz");
    EXPECT_EQ(bearer_token(auth(R"({"token":5})"), "Bearer xyz"), "xyz");
}

TEST(bearer_token, none_at_all) {
    EXPECT_FALSE(bearer_token(auth("{}"), ""));
    EXPECT_FALSE(bearer_token(auth("{}"), "Basic dXNlcjpwYXNz"));
    EXPECT_FALSE(bearer_token(auth(R"({"token":"Bearer "})"), "Bearer "));
}
