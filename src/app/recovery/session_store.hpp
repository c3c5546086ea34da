#pragma once
// The sockets that may still be recovered (docs/recovery.md), by recovery id (`pid`),
// process-wide: a client comes back on any shard. A session holds its pairs on the bus and
// its rooms in the replay buffer while it waits; `holds` lets go of them when the session is
// dropped, however that happens (recovered, expired, refused, or the store going away).
// Thread-safe (one mutex).

#include "core/device_key.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace kamea::app::recovery {

// Calls `release` when destroyed: what a waiting session holds is let go of exactly once.
class holds {
public:
    explicit holds(std::function<void()> release) : release_(std::move(release)) {}
    ~holds() { release_(); }
    holds(const holds&) = delete;
    holds& operator=(const holds&) = delete;

private:
    std::function<void()> release_;
};

struct held_subscription {
    core::device_key key;
    std::uint64_t since = 0; // the socket had every telemetry of the pair numbered before this
};

struct recoverable_session {
    std::string pid;
    std::string sid; // the socket id, kept on recovery as the reference does
    std::vector<held_subscription> subscriptions;
    std::chrono::steady_clock::time_point expires;
    std::shared_ptr<recovery::holds> holds; // released when the last copy goes
};

class session_store {
public:
    void put(recoverable_session s);
    // The session, taken out of the store (recovery is one-shot), if it has not expired.
    std::optional<recoverable_session> take(const std::string& pid, std::chrono::steady_clock::time_point now);
    // Drops the session if it expired (a shard's timer for it).
    void expire(const std::string& pid, std::chrono::steady_clock::time_point now);
    std::size_t size() const;
    std::size_t subscriptions() const;

private:
    mutable std::mutex mutex_;
    std::unordered_map<std::string, recoverable_session> sessions_; // guarded
    std::size_t subscriptions_ = 0;                                 // guarded
};

} // namespace kamea::app::recovery
