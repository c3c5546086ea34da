#include "app/authorization/keep_alive.hpp"

#include <gtest/gtest.h>

namespace kamea::app::authorization {
namespace {

using std::chrono::seconds;

TEST(keep_alive_timeout, reads_the_timeout_parameter) {
    EXPECT_EQ(keep_alive_timeout("timeout=5"), seconds{5});
    EXPECT_EQ(keep_alive_timeout("timeout=5, max=1000"), seconds{5});
    EXPECT_EQ(keep_alive_timeout("max=1000, Timeout = 75"), seconds{75});
    EXPECT_EQ(keep_alive_timeout("timeout=0"), seconds{0}); // Node.js below one second
}

TEST(keep_alive_timeout, has_nothing_without_a_usable_timeout) {
    EXPECT_EQ(keep_alive_timeout(""), std::nullopt);
    EXPECT_EQ(keep_alive_timeout("max=100"), std::nullopt);
    EXPECT_EQ(keep_alive_timeout("timeout"), std::nullopt);
    EXPECT_EQ(keep_alive_timeout("timeout=-1"), std::nullopt);
    EXPECT_EQ(keep_alive_timeout("timeout=5s"), std::nullopt);
    EXPECT_EQ(keep_alive_timeout("timeout=99999999999999999999999"), std::nullopt);
    EXPECT_EQ(keep_alive_timeout("timeouts=5"), std::nullopt);
}

} // namespace
} // namespace kamea::app::authorization
