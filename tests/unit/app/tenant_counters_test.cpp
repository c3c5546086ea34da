// Per-tenant /metrics series with a cardinality cap: the first tenants seen keep their own.
#include "app/telemetry/tenant_counters.hpp"

#include <gtest/gtest.h>

using kamea::app::telemetry::tenant_counters;

TEST(tenant_counters, the_first_tenants_keep_a_series_and_the_rest_share_other) {
    tenant_counters c(2);
    auto a = c.slot("acme");
    auto b = c.slot("globex");
    EXPECT_NE(a, b);
    EXPECT_EQ(c.slot("acme"), a);   // stable
    EXPECT_EQ(c.rows().size(), 2U); // no "(other)" until used
    auto x = c.slot("initech");
    EXPECT_EQ(c.slot("umbrella"), x);
    EXPECT_NE(x, a);
    EXPECT_NE(x, b);
    c.telemetries_in(a, 3);
    c.messages_out(a, 30);
    c.subscriptions(b, 2);
    c.subscriptions(b, -1);
    c.telemetries_in(x, 1);
    c.telemetries_in(c.slot("umbrella"), 1);
    auto rows = c.rows();
    ASSERT_EQ(rows.size(), 3U);
    EXPECT_EQ(rows[0].tenant, "acme");
    EXPECT_EQ(rows[0].telemetries_in, 3U);
    EXPECT_EQ(rows[0].messages_out, 30U);
    EXPECT_EQ(rows[1].tenant, "globex");
    EXPECT_EQ(rows[1].subscriptions, 1);
    EXPECT_EQ(rows[2].tenant, tenant_counters::other);
    EXPECT_EQ(rows[2].telemetries_in, 2U);
    // A tenant first seen past the cap never gets a series of its own later.
    EXPECT_EQ(c.slot("initech"), x);
}
