#pragma once
// Delivery of telemetries to sockets (contract section 4): each telemetry is encoded once as
// the packet 42/devices,["telemetries",<json>] and posted once per shard with the batch;
// each shard writes the same bytes to every socket of room telemetries:<deviceId>.
// Immutable after startup: publish() may be called from any thread. Order per device is the
// order of publish() calls, because each shard's queue is FIFO.

#include "app/telemetry/telemetry.hpp"
#include "socketio/server.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <atomic>
#include <memory>
#include <vector>

namespace kamea::app::telemetry {

struct fanout_stats {
    std::atomic<std::uint64_t> telemetries_in{0};
    std::atomic<std::uint64_t> messages_out{0};
};

class fanout {
public:
    struct shard_target {
        boost::asio::any_io_executor executor;
        socketio::server* server;
    };
    explicit fanout(std::vector<shard_target> shards) : shards_(std::move(shards)) {}

    void publish(const std::vector<telemetry>& batch);
    const fanout_stats& stats() const { return stats_; }

private:
    std::vector<shard_target> shards_;
    fanout_stats stats_;
};

} // namespace kamea::app::telemetry
