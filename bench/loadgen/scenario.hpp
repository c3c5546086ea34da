#pragma once
// What a client does once it has joined the namespace. The connection machinery (TCP,
// WebSocket, Engine.IO open/ping/pong, namespace CONNECT) lives in `client`; a scenario only
// sees Socket.IO packets of its namespace and answers with emits.
//
// One instance per worker thread, called only from that thread: no locks. Scenarios record
// what they measure in the worker's thread_stats (counters, latency histograms).
//
// Planned (issue 5): "subscribe" emits `telemetries` {deviceId, tenantId} with an ack id in
// on_connected and counts the ack in on_ack; "fanout" also reads the publish timestamp of
// each `telemetries` event in on_event into a latency histogram; a publisher (HTTP POSTs of
// batches to the ingest endpoint) runs as another coroutine on a worker.

#include "loadgen/options.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kamea::loadgen {

class client;

class scenario {
public:
    scenario() = default;
    scenario(const scenario&) = delete;
    scenario& operator=(const scenario&) = delete;
    scenario(scenario&&) = delete;
    scenario& operator=(scenario&&) = delete;
    virtual ~scenario() = default;

    // The namespace CONNECT was acknowledged; emits queued here leave with the next write.
    virtual void on_connected(client& c) { (void)c; }
    // EVENT of our namespace: `args` is the JSON array; `ack_id` when the server asks for an ack.
    virtual void on_event(client& c, std::string_view args, std::optional<std::uint64_t> ack_id) {
        (void)c;
        (void)args;
        (void)ack_id;
    }
    // ACK of our namespace for an emit of ours.
    virtual void on_ack(client& c, std::uint64_t id, std::string_view args) {
        (void)c;
        (void)id;
        (void)args;
    }
};

// Idle: join the namespace, answer heartbeats, nothing else.
class idle_scenario final : public scenario {};

// Subscribe (issue 5 scenarios 1-3): once in the namespace, client i emits
// `telemetries` {"deviceId":"dev-<i mod devices>","tenantId":<tenant>} with an ack and counts
// the ack ({"status":"ok"} or an error). Then every `telemetries` event it receives is counted
// and, when it carries the publisher's stamp (bench/publisher: "ts" = unix ns at publish,
// "step", and "seq" = that device's sequence number within the step), its publish-to-receive
// latency is recorded and the per-device order checked.
class subscribe_scenario final : public scenario {
public:
    // Clients first_index .. first_index + connections - 1 of this process.
    subscribe_scenario(std::size_t devices, std::string tenant, std::size_t first_index, std::size_t connections);
    void on_connected(client& c) override;
    void on_event(client& c, std::string_view args, std::optional<std::uint64_t> ack_id) override;
    void on_ack(client& c, std::uint64_t id, std::string_view args) override;

private:
    struct last_seen {
        std::int64_t step = -1;
        std::int64_t seq = -1;
    };
    std::size_t devices_;
    std::string tenant_;
    std::size_t first_index_;
    std::vector<last_seen> last_; // by client index - first_index_ (one slot per client)
};

std::unique_ptr<scenario> make_scenario(const options& opts);

} // namespace kamea::loadgen
