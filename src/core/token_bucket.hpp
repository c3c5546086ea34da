#pragma once
// A token bucket: `rate` tokens a second, at most `burst` saved up; starts full. Time is
// passed in, so its users' tests need no clock. Not thread-safe: one per socket, on its shard.

#include <algorithm>
#include <chrono>

namespace kamea::core {

class token_bucket {
public:
    using clock = std::chrono::steady_clock;

    token_bucket(double rate, double burst, clock::time_point now)
        : rate_(rate), burst_(burst), tokens_(burst), at_(now) {}

    // Takes one token if there is one.
    bool take(clock::time_point now) {
        if (now > at_) {
            tokens_ = std::min(burst_, tokens_ + std::chrono::duration<double>(now - at_).count() * rate_);
            at_ = now;
        }
        if (tokens_ < 1.0) {
            return false;
        }
        tokens_ -= 1.0;
        return true;
    }

private:
    double rate_;
    double burst_;
    double tokens_;
    clock::time_point at_;
};

} // namespace kamea::core
