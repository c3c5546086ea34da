#pragma once
// Per-tenant figures for /metrics (contract section 8): telemetries in, messages out and live
// subscriptions of each tenant, with a cap on cardinality. The first `capacity` tenants seen
// keep a series of their own; later ones share the series "(other)" (parentheses cannot occur
// in a tenant id). A tenant's series never changes, so counters stay monotonic. Thread-safe:
// a slot is assigned under a mutex (once per batch or subscription); counting is atomic.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace kamea::app::telemetry {

class tenant_counters {
public:
    static constexpr std::string_view other = "(other)";

    explicit tenant_counters(std::size_t capacity);

    // The tenant's slot, assigned on first sight.
    std::size_t slot(std::string_view tenant);

    void telemetries_in(std::size_t slot, std::uint64_t n) { cells_[slot].in.fetch_add(n, std::memory_order_relaxed); }
    void messages_out(std::size_t slot, std::uint64_t n) { cells_[slot].out.fetch_add(n, std::memory_order_relaxed); }
    void subscriptions(std::size_t slot, std::int64_t delta) {
        cells_[slot].subscriptions.fetch_add(delta, std::memory_order_relaxed);
    }

    struct row {
        std::string tenant;
        std::uint64_t telemetries_in = 0;
        std::uint64_t messages_out = 0;
        std::int64_t subscriptions = 0;
    };
    // Every tenant with a series, in the order they were seen, then "(other)" once used.
    std::vector<row> rows() const;

private:
    struct alignas(64) cell {
        std::atomic<std::uint64_t> in{0};
        std::atomic<std::uint64_t> out{0};
        std::atomic<std::int64_t> subscriptions{0};
    };
    std::size_t capacity_;
    std::unique_ptr<cell[]> cells_; // capacity_ + 1: the last is "(other)"
    struct name_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    mutable std::mutex mutex_;
    std::unordered_map<std::string, std::size_t, name_hash, std::equal_to<>> slots_; // guarded
    std::vector<std::string> names_;                                                 // guarded; by slot
    bool other_used_ = false;                                                        // guarded
};

} // namespace kamea::app::telemetry
