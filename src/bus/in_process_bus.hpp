#pragma once
// The embedded default (no --amqp-url): a publish is delivered at once, in this process, and
// interest needs no broker. Delivery still goes through the same handler as the RabbitMQ
// bus's, so there is one path to the sockets (contract section 7).

#include "core/bus.hpp"

#include <atomic>

namespace kamea::bus {

class in_process_bus final : public core::bus {
public:
    void start(delivery_handler deliver) override;
    void publish(core::telemetry_batch batch, publish_handler done) override;
    void watch(const core::device_key& key, watch_handler done) override;
    void unwatch(const core::device_key& key) override;
    core::bus_status status() const override;
    void flush(std::function<void()> done) override;
    void stop(std::chrono::milliseconds budget) override;

private:
    delivery_handler deliver_; // set once by start(), before any publish
    std::atomic<bool> stopped_{false};
};

} // namespace kamea::bus
