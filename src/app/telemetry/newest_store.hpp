#pragma once
// The newest telemetry of every (tenant, device) pair some shard tracks for `"last": true`
// subscriptions (issue 13), process-wide: a socket on any shard gets the value the fan-out
// last carried for its pair, whichever shard's subscriber made it tracked. Values are the
// packets the fan-out encoded, shared, not copied, each with its fan-out sequence number,
// and each shard's cursor says how far its fan-out got: a value past a shard's cursor is
// still in that shard's inbox and reaches a newly joined socket through the room. At most
// `budget` bytes of values: one past it is not kept (that pair then has none).
// Thread-safe (one mutex; record() is called once per batch by the fan-out, in its order).

#include "app/recovery/replay_buffer.hpp"
#include "engineio/packet.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace kamea::app::telemetry {

class newest_store {
public:
    newest_store(std::size_t budget, std::size_t shards) : budget_(budget), cursors_(shards) {}

    // A shard starts or stops tracking a pair's room (counted: several shards may).
    void track(const std::string& room);
    void untrack(const std::string& room);
    bool tracking() const { return tracked_.load(std::memory_order_relaxed) > 0; }

    using item = recovery::numbered_packet;
    // The fan-out's telemetries in sequence order; those of tracked rooms are kept.
    void record(const std::vector<item>& items);

    struct value {
        engineio::wire_ptr packet; // null: none kept
        std::uint64_t seq = 0;
    };
    value newest(const std::string& room) const;

    // The sequence number of the last telemetry the shard's fan-out handed to its rooms: read
    // on the shard; advanced by its fan-out, or by the fan-out's caller for a batch that the
    // shard, having no session, is not sent (advance_if). Under a lock per shard, so that a
    // session opened on the shard and a batch skipped meanwhile are seen in one order.
    std::uint64_t cursor(std::size_t shard) const {
        std::lock_guard lock(cursors_[shard].mutex);
        return cursors_[shard].seq;
    }
    void advance(std::size_t shard, std::uint64_t seq) {
        std::lock_guard lock(cursors_[shard].mutex);
        cursors_[shard].seq = std::max(cursors_[shard].seq, seq);
    }
    // Advances the cursor and returns true if skip() holds, both under the cursor's lock.
    template <typename Skip>
    bool advance_if(std::size_t shard, std::uint64_t seq, Skip skip) {
        std::lock_guard lock(cursors_[shard].mutex);
        if (!skip()) {
            return false;
        }
        cursors_[shard].seq = std::max(cursors_[shard].seq, seq);
        return true;
    }

    std::size_t bytes() const;
    std::uint64_t not_kept() const { return not_kept_.load(std::memory_order_relaxed); }

private:
    struct entry {
        std::size_t trackers = 0;
        value v;
    };
    struct alignas(64) shard_cursor {
        mutable std::mutex mutex;
        std::uint64_t seq = 0;
    };

    std::size_t budget_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, entry> entries_; // guarded by mutex_
    std::size_t bytes_ = 0;                          // guarded by mutex_
    std::atomic<std::size_t> tracked_{0};
    std::atomic<std::uint64_t> not_kept_{0};
    std::vector<shard_cursor> cursors_;
};

} // namespace kamea::app::telemetry
