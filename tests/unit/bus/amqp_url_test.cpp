#include "bus/amqp_bus.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

using kamea::bus::parse_url_list;
using kamea::bus::redact_url;

TEST(amqp_url, splits_and_trims_a_list_of_nodes) {
    auto urls = parse_url_list(" amqp://guest:guest@127.0.0.1:5672/ , amqps://u:p@rabbit-2.example/vh,");
    ASSERT_EQ(urls.size(), 2U);
    EXPECT_EQ(urls[0], "amqp://guest:guest@127.0.0.1:5672/");
    EXPECT_EQ(urls[1], "amqps://u:p@rabbit-2.example/vh");
}

TEST(amqp_url, rejects_bad_urls_without_showing_the_password) {
    EXPECT_THROW(parse_url_list(""), std::invalid_argument);
    EXPECT_THROW(parse_url_list(" , "), std::invalid_argument);
    try {
        parse_url_list("amqp://ok@host/,http://user:s3cret@host/");
        FAIL() << "accepted an http URL";
    } catch (const std::invalid_argument& e) {
        std::string what = e.what();
        EXPECT_EQ(what.find("s3cret"), std::string::npos) << what;
        EXPECT_NE(what.find("***"), std::string::npos) << what;
    }
    try {
        parse_url_list("amqp://user:s3cret@host:notaport/");
        FAIL() << "accepted a bad port";
    } catch (const std::invalid_argument& e) {
        EXPECT_EQ(std::string(e.what()).find("s3cret"), std::string::npos) << e.what();
    }
}

TEST(amqp_url, redacts_the_password_only) {
    EXPECT_EQ(redact_url("amqp://guest:guest@127.0.0.1:5672/"), "amqp://guest:***@127.0.0.1:5672/");
    EXPECT_EQ(redact_url("amqps://u:p%40ss@h/vh"), "amqps://u:***@h/vh");
    EXPECT_EQ(redact_url("amqp://u:pa/ss@word@h/"), "amqp://u:***@h/");
    EXPECT_EQ(redact_url("amqp://user@h/"), "amqp://user@h/");
    EXPECT_EQ(redact_url("amqp://h:5672/"), "amqp://h:5672/");
}
