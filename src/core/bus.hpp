#pragma once
// The seam between the application and the telemetry bus (contract section 7, style.md
// section 9). Three verbs, as Centrifuge's broker: publish a batch, watch a device (the first
// local subscriber of a (tenant, device) pair), unwatch it (the last one gone). Deliveries
// come back through one handler. Two implementations: bus/in_process_bus (no broker: a
// publish is delivered at once, in this process) and bus/amqp_bus (RabbitMQ).
//
// Thread safety: every member may be called from any thread; completions run on the bus's
// own thread (or the caller's, for the in-process bus) and must be posted by the receiver to
// where it wants them.

#include "core/device_key.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace kamea::core {

// A telemetry as it travels inside the service and over the bus: the pair it belongs to, read
// from its body, and its JSON text exactly as it was published.
struct telemetry {
    device_key key;
    std::string json;
    std::int64_t ingested_ns = 0; // steady clock at ingestion (for the latency histogram)
};
using telemetry_batch = std::shared_ptr<const std::vector<telemetry>>;

enum class publish_result {
    confirmed,   // every telemetry of the batch is routed (or delivered, in process)
    unavailable, // the bus is down: nothing of the batch was published
    failed,      // the bus failed midway: a part may have been delivered
};

enum class watch_result {
    bound,    // the broker routes the pair's telemetries to this instance from now on
    deferred, // the bus is down: the pair is wanted and is bound on reconnect
    refused,  // the instance's binding budget is spent (--amqp-max-bindings)
};

enum class bus_state { connected, connecting, disconnected };
const char* to_string(bus_state s);

struct bus_status {
    const char* kind = "in-process"; // "in-process" or "amqp"
    bus_state state = bus_state::connected;
    std::string node; // the broker node connected to (URL without credentials), if any
};

class bus {
public:
    using delivery_handler = std::function<void(telemetry_batch)>;
    using publish_handler = std::function<void(publish_result)>;
    using watch_handler = std::function<void(watch_result)>;

    virtual ~bus() = default;

    // Sets where deliveries go and starts the bus (connecting, for a broker). Deliveries of
    // one publishing connection arrive in publish order.
    virtual void start(delivery_handler deliver) = 0;
    virtual void publish(telemetry_batch batch, publish_handler done) = 0;
    // Counted per pair: every watch is matched by one unwatch.
    virtual void watch(const device_key& key, watch_handler done) = 0;
    virtual void unwatch(const device_key& key) = 0;
    virtual bus_status status() const = 0;
    // Calls `done` (from any thread) once every telemetry published through this bus before
    // the call, as far as it routes to this instance, has been handed to the delivery handler;
    // at once when that cannot be known (the bus is down). Shutdown waits on it, so that what
    // ingestion accepted reaches local clients before their transports close.
    virtual void flush(std::function<void()> done) = 0;
    // Graceful end: releases what the broker holds for this instance (bindings), within the
    // budget, then closes. No delivery follows.
    virtual void stop(std::chrono::milliseconds budget) = 0;
};

} // namespace kamea::core
