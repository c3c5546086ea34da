#include "app/authorization/answer.hpp"

#include <gtest/gtest.h>

namespace kamea::app::authorization {
namespace {

TEST(read_answer, reads_the_authorized_flag_of_a_200) {
    EXPECT_EQ(read_answer(200, R"({"authorized":true})").outcome, verdict::allowed);
    EXPECT_EQ(read_answer(200, R"({"authorized":false,"reason":"x"})").outcome, verdict::denied);
    EXPECT_EQ(read_answer(200, " { \"other\": 1, \"authorized\" : true } ").outcome, verdict::allowed);
}

TEST(read_answer, takes_401_and_403_as_denials_whatever_the_body) {
    for (unsigned status : {401U, 403U}) {
        auto r = read_answer(status, R"({"authorized":true})");
        EXPECT_EQ(r.outcome, verdict::denied) << status;
        EXPECT_EQ(r.message, "not authorized for this device");
    }
}

TEST(read_answer, is_an_error_for_any_other_status_naming_it) {
    auto r = read_answer(500, R"({"authorized":true})");
    EXPECT_EQ(r.outcome, verdict::error);
    EXPECT_EQ(r.message, "management API answered 500");
    EXPECT_EQ(read_answer(204, "").outcome, verdict::error);
    EXPECT_EQ(read_answer(302, "").message, "management API answered 302");
}

TEST(read_answer, is_an_error_for_a_200_it_cannot_read_without_echoing_the_body) {
    for (const char* body : {"", "not json", "[true]", R"({"authorized":"true"})", R"({"authorized":1})", "{}",
                             R"({"authorized":true}{"x":1})", "null"}) {
        auto r = read_answer(200, body);
        EXPECT_EQ(r.outcome, verdict::error) << body;
        EXPECT_EQ(r.message, "management API answer unreadable") << body;
    }
}

} // namespace
} // namespace kamea::app::authorization
