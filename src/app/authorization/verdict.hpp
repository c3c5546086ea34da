#pragma once
// The outcome of one authorization check (contract section 6).

#include "core/histogram.hpp"

#include <atomic>
#include <functional>
#include <string>

namespace kamea::app::authorization {

enum class verdict { allowed, denied, error };

struct result {
    verdict outcome = verdict::error;
    std::string message; // why (denied/error), never containing a secret
};

// What is checked: one user's token against one device of one tenant.
struct check_key {
    std::string token; // a secret: never logged
    std::string tenant_id;
    std::string device_id;

    bool operator==(const check_key&) const = default;
};

struct check_key_hash {
    std::size_t operator()(const check_key& k) const noexcept {
        std::hash<std::string> h;
        return h(k.token) ^ (h(k.tenant_id) * 31) ^ (h(k.device_id) * 1000003);
    }
};

using result_handler = std::function<void(const result&)>;

// Management API calls by result and their latency, for /metrics.
struct call_metrics {
    std::atomic<std::uint64_t> allowed{0};
    std::atomic<std::uint64_t> denied{0};
    std::atomic<std::uint64_t> errors{0};
    core::histogram latency;
    // What a reconnect storm shows: HTTP requests sent, checks that shared one already in
    // flight, and checks answered from --authz-cache-ttl's cache (each bumped once per check).
    std::atomic<std::uint64_t> requests{0};
    std::atomic<std::uint64_t> coalesced{0};
    std::atomic<std::uint64_t> cache_hits{0};
};

} // namespace kamea::app::authorization
