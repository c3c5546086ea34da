#include "bus/message_reader.hpp"

#include <gtest/gtest.h>

#include <string>

using kamea::bus::message_rejected;
using kamea::bus::read_message;
using kamea::core::telemetry;

namespace {

std::string rejection(std::string_view body, std::size_t max = 1024) {
    auto r = read_message(body, max);
    auto* rejected = std::get_if<message_rejected>(&r);
    return rejected == nullptr ? "" : rejected->reason;
}

} // namespace

TEST(bus_message_reader, keeps_a_valid_body_byte_for_byte) {
    std::string body = R"({ "deviceId":"d-1", "temp": 21.50, "tenantId":"t.1", "x":[1,{"y":null}] })";
    auto r = read_message(body, 1024);
    ASSERT_TRUE(std::holds_alternative<telemetry>(r));
    const auto& t = std::get<telemetry>(r);
    EXPECT_EQ(t.key.tenant_id, "t.1");
    EXPECT_EQ(t.key.device_id, "d-1");
    EXPECT_EQ(t.json, body);
    EXPECT_EQ(t.ingested_ns, 0);
}

TEST(bus_message_reader, rejects_what_is_not_a_json_object) {
    EXPECT_NE(rejection("not json"), "");
    EXPECT_NE(rejection(R"({"tenantId":"t","deviceId":"d")"), "");
    EXPECT_NE(rejection(R"([{"tenantId":"t","deviceId":"d"}])"), "");
    EXPECT_NE(rejection("\"text\""), "");
    EXPECT_NE(rejection(""), "");
}

TEST(bus_message_reader, rejects_missing_or_invalid_ids) {
    EXPECT_NE(rejection(R"({"deviceId":"d"})").find("tenantId"), std::string::npos);
    EXPECT_NE(rejection(R"({"tenantId":"t"})").find("deviceId"), std::string::npos);
    EXPECT_NE(rejection(R"({"tenantId":1,"deviceId":"d"})"), "");
    EXPECT_NE(rejection(R"({"tenantId":"","deviceId":"d"})"), "");
    EXPECT_NE(rejection(R"({"tenantId":"t~","deviceId":"d"})"), "");
    EXPECT_NE(rejection(R"({"tenantId":"t","deviceId":"d/e"})"), "");
    std::string long_id(129, 'x');
    EXPECT_NE(rejection(R"({"tenantId":"t","deviceId":")" + long_id + "\"}", 4096), "");
}

TEST(bus_message_reader, rejects_a_body_over_the_limit) {
    std::string body = R"({"tenantId":"t","deviceId":"d"})";
    EXPECT_EQ(rejection(body, body.size()), "");
    EXPECT_NE(rejection(body, body.size() - 1).find("larger"), std::string::npos);
}
