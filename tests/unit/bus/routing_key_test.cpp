#include "bus/amqp_bus.hpp"

#include <gtest/gtest.h>

using kamea::bus::routing_key;
using kamea::core::device_key;

TEST(routing_key, joins_tenant_and_device_with_a_dot) {
    EXPECT_EQ(routing_key(device_key{"acme", "dev-1"}), "acme.dev-1");
    EXPECT_EQ(routing_key(device_key{"a.b", "c"}), "a.b.c"); // shared with {"a", "b.c"}: counted per key
    EXPECT_EQ(routing_key(device_key{"a", "b.c"}), "a.b.c");
}

TEST(routing_key, keeps_the_plain_form_up_to_255_bytes) {
    device_key key{std::string(127, 'a'), std::string(127, 'b')};
    auto rk = routing_key(key);
    EXPECT_EQ(rk.size(), 255U);
    EXPECT_EQ(rk, key.tenant_id + "." + key.device_id);
}

TEST(routing_key, hashes_longer_pairs_into_a_fixed_form) {
    auto rk = routing_key(device_key{std::string(128, 't'), std::string(128, 'd')});
    // "~" + lowercase hex SHA-256 of "<tenantId>.<deviceId>" (python3 hashlib gave the digest).
    EXPECT_EQ(rk, "~142858991d00eaa4628350debb633aed3d6893a6d3faf1abbd6d43438f8a8dbb");
    auto other = routing_key(device_key{std::string(127, 'a'), std::string(128, 'b')});
    EXPECT_EQ(other.size(), 65U);
    EXPECT_EQ(other.front(), '~');
    EXPECT_NE(other, rk);
}
