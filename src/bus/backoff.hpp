#pragma once
// Reconnect delays: exponential from min to max, with jitter (half to all of the step) so
// that instances cut off together do not reconnect together.

#include <algorithm>
#include <chrono>
#include <random>

namespace kamea::bus {

class backoff {
public:
    backoff(std::chrono::milliseconds min, std::chrono::milliseconds max)
        : min_(std::max(min, std::chrono::milliseconds(1))), max_(std::max(max, min_)), step_(min_),
          random_(std::random_device{}()) {}

    std::chrono::milliseconds next() {
        auto step = step_;
        step_ = std::min(step_ * 2, max_);
        std::uniform_int_distribution<long long> pick(step.count() / 2, step.count());
        return std::chrono::milliseconds(pick(random_));
    }
    void reset() { step_ = min_; }

private:
    std::chrono::milliseconds min_;
    std::chrono::milliseconds max_;
    std::chrono::milliseconds step_;
    std::minstd_rand random_;
};

} // namespace kamea::bus
