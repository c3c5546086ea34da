#pragma once
// A Prometheus-style latency histogram with fixed buckets, safe to observe from one thread
// while another reads it (relaxed atomics). Give each shard its own to avoid sharing cache
// lines on hot paths; a scrape merges them.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace kamea::core {

class histogram {
public:
    // Upper bounds in seconds (the +Inf bucket is implicit).
    static constexpr std::array<double, 14> bounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                      0.1,    0.25,  0.5,    1.0,   2.5,  5.0,   10.0};

    // From any thread.
    void observe(std::chrono::nanoseconds d) {
        auto ns = clamp(d);
        buckets_[bucket_of(ns)].fetch_add(1, std::memory_order_relaxed);
        sum_ns_.fetch_add(ns, std::memory_order_relaxed);
    }

    // Only when one thread is the only writer (a shard's own histogram, observed per delivered
    // message): a plain load and store instead of a locked read-modify-write. Readers on other
    // threads still see whole values.
    void observe_single_writer(std::chrono::nanoseconds d) {
        auto ns = clamp(d);
        auto& b = buckets_[bucket_of(ns)];
        b.store(b.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        sum_ns_.store(sum_ns_.load(std::memory_order_relaxed) + ns, std::memory_order_relaxed);
    }

    struct snapshot {
        std::array<std::uint64_t, bounds.size() + 1> buckets{}; // not cumulative
        double sum_seconds = 0;
        snapshot& operator+=(const snapshot& o) {
            for (std::size_t i = 0; i < buckets.size(); ++i) {
                buckets[i] += o.buckets[i];
            }
            sum_seconds += o.sum_seconds;
            return *this;
        }
    };
    snapshot read() const {
        snapshot s;
        for (std::size_t i = 0; i < buckets_.size(); ++i) {
            s.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
        }
        s.sum_seconds = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
        return s;
    }

private:
    static constexpr std::array<std::uint64_t, bounds.size()> bounds_ns = [] {
        std::array<std::uint64_t, bounds.size()> ns{};
        for (std::size_t i = 0; i < bounds.size(); ++i) {
            // Positive bounds, so adding a half rounds; std::llround is not constexpr.
            ns[i] = static_cast<std::uint64_t>(bounds[i] * 1e9 + 0.5); // NOLINT(bugprone-incorrect-roundings)
        }
        return ns;
    }();
    static std::uint64_t clamp(std::chrono::nanoseconds d) {
        return d.count() < 0 ? 0 : static_cast<std::uint64_t>(d.count());
    }
    static std::size_t bucket_of(std::uint64_t ns) {
        std::size_t i = 0;
        while (i < bounds_ns.size() && ns > bounds_ns[i]) {
            ++i;
        }
        return i;
    }

    std::array<std::atomic<std::uint64_t>, bounds.size() + 1> buckets_{};
    std::atomic<std::uint64_t> sum_ns_{0};
};

} // namespace kamea::core
