#include "core/core_dumps.hpp"

#include <gtest/gtest.h>

namespace kamea::core {
namespace {

TEST(core_dumps, are_switched_off_and_on_again_in_the_kernel) {
    ASSERT_TRUE(set_core_dumps(false));
    EXPECT_FALSE(core_dumps_allowed());
    ASSERT_TRUE(set_core_dumps(true));
    EXPECT_TRUE(core_dumps_allowed());
}

} // namespace
} // namespace kamea::core
