#pragma once
// One shard's part in keeping the newest telemetry of the pairs its sockets subscribe to
// (issue 13, `"last": true`): a pair is tracked in the process-wide newest_store from its
// first subscription on this shard until `ttl` after the last one here left. For that long
// the owner also keeps the pair's bus interest, so that the value stays the newest the bus
// carried. Time passed in, no I/O: tested without sockets or timers. Shard-local.

#include "app/telemetry/newest_store.hpp"
#include "core/device_key.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace kamea::app::telemetry {

class last_values {
public:
    using clock = std::chrono::steady_clock;

    last_values(newest_store& store, std::size_t shard, std::chrono::seconds ttl)
        : store_(store), shard_(shard), ttl_(ttl) {}
    ~last_values();
    last_values(const last_values&) = delete;
    last_values& operator=(const last_values&) = delete;

    // A subscription of `room` (the pair `key`) starts on this shard. Returns the entry's
    // generation when the entry is new (the owner then holds the pair's interest for it,
    // until expire() hands the entry back), else nullopt.
    std::optional<std::uint64_t> watch(const std::string& room, const core::device_key& key);
    // A subscription of `room` ends; the last one starts the entry's ttl (with ttl 0 the
    // entry is due at once).
    void unwatch(const std::string& room, clock::time_point now);

    // An entry given back: its pair's interest is the owner's to release, unless the hold
    // was refused (see refuse()).
    struct expired {
        core::device_key key;
        bool holds_interest;
    };
    // Entries whose ttl ran out with no subscriber since: untracked, removed and returned.
    std::vector<expired> expire(clock::time_point now);
    std::optional<clock::time_point> next_expiry() const;
    // The bus refused the interest hold of that entry generation: nothing to release later.
    void refuse(const std::string& room, std::uint64_t generation);

    // What a subscriber joining `room` now must be sent: the newest value, and whether it is
    // already past this shard's fan-out (then it is to be sent by hand; otherwise it is still
    // in the shard's inbox and comes through the room).
    struct newest_now {
        engineio::wire_ptr packet; // null: none
        bool send = false;
    };
    newest_now newest(const std::string& room) const;

    std::size_t size() const { return entries_.size(); }
    // This shard's fan-out position: every telemetry numbered up to it is in its rooms.
    std::uint64_t position() const { return store_.cursor(shard_); }

private:
    struct entry {
        core::device_key key;
        std::uint64_t generation = 0;
        std::size_t watchers = 0;
        bool holds_interest = true;
        clock::time_point due{}; // with watchers == 0: when it expires
    };

    newest_store& store_;
    std::size_t shard_;
    std::chrono::seconds ttl_;
    std::unordered_map<std::string, entry> entries_;
    std::multimap<clock::time_point, std::pair<std::string, std::uint64_t>> due_; // may hold stale rows
    std::uint64_t next_generation_ = 0;
};

} // namespace kamea::app::telemetry
