// The bus tests log from their AMQP threads. spdlog makes its logger registry on first use, in
// a function-local static whose guard is read inside the uninstrumented libspdlog, so
// ThreadSanitizer cannot see that synchronization and reports the first two threads to log as
// a race (`make tsan`). The server makes the logger in main() before any thread starts
// (core::log::init); the unit tests do the same here, before the first test.
#include "core/log.hpp"

#include <gtest/gtest.h>

namespace {

class logger_before_threads final : public ::testing::Environment {
public:
    void SetUp() override { kamea::core::log::init("info"); }
};

[[maybe_unused]] const auto* const registered = ::testing::AddGlobalTestEnvironment(new logger_before_threads);

} // namespace
