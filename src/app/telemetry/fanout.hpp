#pragma once
// Delivery of telemetries to sockets (contract section 4): the bus hands each batch here once;
// each telemetry is encoded once as the packet 42/devices,["telemetries",<json>] and the
// batch is posted once per shard (not to a shard without sessions, which is not woken); each
// shard writes the same bytes to every socket of the telemetry's (tenant, device) room. This is
// the only path to the sockets, whichever bus carried the telemetry.
// deliver() may be called from any thread. Order per device is the order of deliver() calls:
// each shard has an inbox, appended under a lock in deliver() and drained in order on the
// shard. (A plain asio::post is not enough: a post made on a shard's own thread waits in a
// private queue until the running handler returns, so a later post from another thread, for
// a POST answered meanwhile, could overtake it.)

#include "app/recovery/offset.hpp"
#include "app/recovery/replay_buffer.hpp"
#include "app/telemetry/newest_store.hpp"
#include "app/telemetry/telemetry.hpp"
#include "app/telemetry/tenant_counters.hpp"
#include "engineio/registry.hpp"
#include "socketio/server.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

namespace kamea::app::telemetry {

struct fanout_stats {
    std::atomic<std::uint64_t> telemetries_in{0};
    std::atomic<std::uint64_t> messages_out{0};
};

struct fanout_options {
    newest_store* newest = nullptr; // keeps the newest value of tracked pairs (its shard i is shards[i])
    // With connection state recovery on: every telemetry carries its offset as its last
    // argument, and the replay buffer keeps the recent ones of held rooms.
    recovery::replay_buffer* replay = nullptr;
    const recovery::offset_codec* offsets = nullptr;
    bool conflation = false;            // packets carry their room as conflation key (--conflate-after)
    tenant_counters* tenants = nullptr; // per-tenant telemetries in and messages out
};

class fanout {
public:
    struct shard_target {
        boost::asio::any_io_executor executor;
        socketio::server* server;
        // The shard's Engine.IO sessions: a shard with none is not sent batches, so an idle
        // loop is not woken (null: always sent).
        const engineio::registry* sessions = nullptr;
    };
    // `nsp` is the namespace the telemetries are emitted in ("/devices").
    fanout(std::string nsp, std::vector<shard_target> shards, fanout_options options = {});
    ~fanout();

    void deliver(const core::telemetry_batch& batch);
    const fanout_stats& stats() const { return stats_; }

    struct encoded;
    using batch_ptr = std::shared_ptr<const std::vector<encoded>>;

private:
    struct inbox {
        shard_target target;
        std::size_t index = 0;
        std::mutex mutex;
        std::vector<batch_ptr> batches; // guarded by mutex
        bool drain_posted = false;      // guarded by mutex
    };
    void drain(inbox& box);
    bool skip(inbox& box, std::uint64_t last_seq); // under box.mutex
    engineio::wire_ptr encode(const core::telemetry& t, const std::string& room, std::uint64_t seq) const;

    std::string nsp_;
    fanout_options options_;
    // Sequence numbers and the inboxes' order are one order: deliver() numbers a batch and
    // appends it to every inbox under this lock (once per batch, not per telemetry).
    std::mutex order_mutex_;
    std::uint64_t next_seq_ = 0; // guarded by order_mutex_
    std::vector<std::unique_ptr<inbox>> inboxes_;
    fanout_stats stats_;
};

} // namespace kamea::app::telemetry
