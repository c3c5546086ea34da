#pragma once
// What connection state recovery replays (docs/recovery.md): the recent telemetries of every
// (tenant, device) room a live subscription or a recoverable session holds, process-wide,
// since a client may come back on another shard. Kept per room, within a byte budget and an
// age: the oldest go first, whichever room they are in. Each room remembers the newest
// sequence number it lost that way, so a recovery knows whether what a client missed is all
// still here: a quiet device's single telemetry a minute ago is not needed by a client that
// had it, and its going costs that client nothing (the reference needs the client's own last
// offset to still be in its buffer). Packets are the fan-out's, shared, not copied.
// Thread-safe (one mutex; record() is called once per batch by the fan-out, in its order).

#include "engineio/packet.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace kamea::app::recovery {

// A telemetry as the fan-out numbered it: its room, its packet and its sequence number.
struct numbered_packet {
    const std::string* room;
    const engineio::wire_ptr* packet;
    std::uint64_t seq;
};

class replay_buffer {
public:
    using clock = std::chrono::steady_clock;
    replay_buffer(std::size_t budget, clock::duration max_age) : budget_(budget), max_age_(max_age) {}

    // Counted holds on a room (a subscription, a recoverable session): only held rooms are
    // kept. A room no one holds forgets its telemetries as they age.
    void track(const std::string& room);
    void untrack(const std::string& room);
    bool tracking() const { return tracked_.load(std::memory_order_relaxed) > 0; }

    using item = numbered_packet;
    // The fan-out's telemetries in sequence order, every batch (held rooms or not: a room held
    // from now on has lost what was numbered before).
    void record(const std::vector<item>& items, clock::time_point now);

    struct wanted {
        std::string room;
        std::uint64_t after; // the client has every telemetry of the room up to this one
    };
    // Every telemetry of those rooms after its `after`, up to `upto` included, in sequence
    // order; nullopt when one of them is no longer kept (the gap cannot be replayed exactly).
    std::optional<std::vector<engineio::wire_ptr>> missed(const std::vector<wanted>& rooms, std::uint64_t upto) const;

    std::size_t bytes() const;
    std::size_t telemetries() const;
    std::uint64_t evicted() const { return evicted_.load(std::memory_order_relaxed); }

private:
    struct kept {
        std::uint64_t seq;
        engineio::wire_ptr packet;
    };
    struct room_entry {
        std::size_t holders = 0;
        std::uint64_t lost_upto = 0; // the newest telemetry of the room that is no longer kept
        std::deque<kept> telemetries;
    };
    struct in_order {
        room_entry* room;
        std::string_view name; // the key of `room` in rooms_
        clock::time_point at;
        std::size_t bytes;
    };
    void evict_oldest();

    std::size_t budget_;
    clock::duration max_age_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, room_entry> rooms_; // guarded; node-based: entries stay put
    std::deque<in_order> order_;                        // guarded; every kept telemetry, oldest first
    std::size_t bytes_ = 0;                             // guarded
    std::uint64_t last_seq_ = 0;                        // guarded; the newest telemetry recorded
    std::atomic<std::size_t> tracked_{0};
    std::atomic<std::uint64_t> evicted_{0};
};

} // namespace kamea::app::recovery
