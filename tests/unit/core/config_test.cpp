#include "core/config.hpp"

#include <gtest/gtest.h>

#include <cstdlib>

using namespace kamea::core;

namespace {
config parse(std::vector<const char*> args) {
    args.insert(args.begin(), "kamea-wss");
    return parse_config(static_cast<int>(args.size()), args.data());
}
} // namespace

TEST(config, defaults_match_the_contract) {
    auto c = parse({});
    EXPECT_EQ(c.public_port, 3000);
    EXPECT_EQ(c.internal_port, 3001);
    EXPECT_EQ(c.ping_interval.count(), 25000);
    EXPECT_EQ(c.ping_timeout.count(), 20000);
    EXPECT_EQ(c.max_payload, 1000000U);
    EXPECT_EQ(c.connect_timeout.count(), 45000);
    EXPECT_TRUE(c.cors_origins.empty());
    EXPECT_FALSE(c.conformance);
}

TEST(config, flags_and_lists) {
    auto c = parse({"--ping-interval", "300", "--cors-origins", "http://a,http://b", "--conformance"});
    EXPECT_EQ(c.ping_interval.count(), 300);
    ASSERT_EQ(c.cors_origins.size(), 2U);
    EXPECT_EQ(c.cors_origins[1], "http://b");
    EXPECT_TRUE(c.conformance);
}

TEST(config, environment_variable_and_flag_wins) {
    ::setenv("WSS_PUBLIC_PORT", "4100", 1);
    EXPECT_EQ(parse({}).public_port, 4100);
    EXPECT_EQ(parse({"--public-port", "4200"}).public_port, 4200);
    ::unsetenv("WSS_PUBLIC_PORT");
}

TEST(config, refuses_unknown_flags_and_bad_values) {
    EXPECT_THROW(parse({"--no-such-flag"}), config_error);
    EXPECT_THROW(parse({"--public-port", "70000"}), config_error);
    EXPECT_THROW(parse({"--ping-interval", "abc"}), config_error);
    EXPECT_THROW(parse({"--log-level", "loud"}), config_error);
    try {
        parse({"--no-such-flag"});
        FAIL() << "no error for an unknown flag";
    } catch (const config_error& e) {
        EXPECT_NE(e.exit_code, 0);
        EXPECT_NE(std::string(e.what()).find("no-such-flag"), std::string::npos);
    }
}

TEST(config, markdown_lists_every_flag_with_its_variable) {
    auto md = config_markdown();
    EXPECT_NE(md.find("`--ping-interval` | `WSS_PING_INTERVAL`"), std::string::npos);
    EXPECT_NE(md.find("`--max-send-queue` | `WSS_MAX_SEND_QUEUE`"), std::string::npos);
}

namespace {
std::string write_temp(const std::string& name, const std::string& text) {
    auto path = ::testing::TempDir() + name;
    std::FILE* f = std::fopen(path.c_str(), "w");
    std::fputs(text.c_str(), f);
    std::fclose(f);
    return path;
}
} // namespace

TEST(config, ingest_tokens_are_a_list_or_a_file) {
    auto listed = parse({"--ingest-token", "old,new"});
    EXPECT_EQ(listed.ingest_tokens, (std::vector<std::string>{"old", "new"}));
    auto file = write_temp("kamea-ingest-tokens", "first\n\nsecond  \n");
    auto from_file = parse({"--ingest-token-file", file.c_str()});
    EXPECT_EQ(from_file.ingest_tokens, (std::vector<std::string>{"first", "second"}));
    EXPECT_THROW(parse({"--ingest-token-file", "/nonexistent/tokens"}), config_error);
    auto empty = write_temp("kamea-ingest-empty", "\n\n");
    EXPECT_THROW(parse({"--ingest-token-file", empty.c_str()}), config_error);
}

TEST(config, amqp_url_from_a_file_and_the_bus_settings) {
    auto c = parse({});
    EXPECT_TRUE(c.amqp_url.empty()); // the in-process bus by default
    EXPECT_EQ(c.amqp_exchange, "telemetries");
    EXPECT_EQ(c.amqp_exchange_type, "direct");
    EXPECT_FALSE(c.ready_requires_bus);
    auto file = write_temp("kamea-amqp-url", "amqp://u:secret@127.0.0.1:5672/\n");
    EXPECT_EQ(parse({"--amqp-url-file", file.c_str()}).amqp_url, "amqp://u:secret@127.0.0.1:5672/");
    EXPECT_THROW(parse({"--amqp-url-file", file.c_str(), "--amqp-url", "amqp://x/"}), config_error);
    EXPECT_THROW(parse({"--amqp-exchange-type", "fanout"}), config_error);
    EXPECT_TRUE(parse({"--ready-requires-bus", "true"}).ready_requires_bus);
    // The message of a refused file names the file, never its content.
    try {
        parse({"--amqp-url-file", "/nonexistent/amqp-url"});
        FAIL() << "no error for a missing file";
    } catch (const config_error& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/amqp-url"), std::string::npos);
    }
}
