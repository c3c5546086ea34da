#pragma once
// How busy a shard's event loop is with sending: the share of wall time its flush turns took
// (building the sends and handing them to the kernel) over the last window. Written on the
// shard, read from any thread. Connection placement uses it so that one loop carries the load
// until it is busy, and the others are woken only then (docs/performance.md, "Everyday
// efficiency").

#include <atomic>
#include <chrono>
#include <cstdint>

namespace kamea::transport {

class loop_load {
public:
    using clock = std::chrono::steady_clock;
    static constexpr clock::duration window = std::chrono::milliseconds(100);

    // On the shard: a flush turn ran from `start` to `end`.
    void add(clock::time_point start, clock::time_point end) {
        busy_ += end - start;
        auto span = end - window_start_;
        if (span >= window) {
            auto permille = busy_ * 1000 / span;
            permille_.store(static_cast<std::uint32_t>(permille > 1000 ? 1000 : permille), std::memory_order_relaxed);
            published_at_.store(end.time_since_epoch().count(), std::memory_order_relaxed);
            window_start_ = end;
            busy_ = {};
        }
    }

    // Anywhere: the busy share of the last complete window, in thousandths; a window more
    // than two windows old says nothing about now (the loop has been idle since): 0.
    std::uint32_t permille(clock::time_point now) const {
        auto at = clock::time_point(clock::duration(published_at_.load(std::memory_order_relaxed)));
        if (now - at > 2 * window) {
            return 0;
        }
        return permille_.load(std::memory_order_relaxed);
    }

private:
    clock::time_point window_start_{};
    clock::duration busy_{};
    std::atomic<std::uint32_t> permille_{0};
    std::atomic<clock::rep> published_at_{0};
};

// Past this share a loop counts as busy: new connections go to the next loop, and ingestion
// requests move to one that is not.
inline constexpr std::uint32_t busy_permille = 500;

} // namespace kamea::transport
