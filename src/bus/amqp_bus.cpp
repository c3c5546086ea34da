#include "bus/amqp_bus.hpp"

#include "bus/amqp_consumer.hpp"
#include "bus/amqp_publisher.hpp"
#include "core/log.hpp"

#include <stdexcept>

namespace kamea::bus {

namespace {

// The core::bus over two connections: consumer and publisher, each with its own thread.
class amqp_bus final : public core::bus {
public:
    amqp_bus(amqp_options options, amqp_stats& stats)
        : options_(std::move(options)), stats_(stats), publisher_(options_, stats),
          consumer_(options_, stats, publisher_) {}

    ~amqp_bus() override { stop(std::chrono::seconds(2)); }

    void start(delivery_handler deliver) override {
        std::lock_guard lock(lifecycle_);
        if (started_ || stopped_) {
            return;
        }
        started_ = true;
        publisher_.start();
        consumer_.start(std::move(deliver));
    }

    void publish(core::telemetry_batch batch, publish_handler done) override {
        publisher_.publish(std::move(batch), std::move(done));
    }

    void watch(const core::device_key& key, watch_handler done) override { consumer_.watch(key, std::move(done)); }

    void unwatch(const core::device_key& key) override { consumer_.unwatch(key); }

    void flush(std::function<void()> done) override { consumer_.fence(std::move(done)); }

    core::bus_status status() const override {
        core::bus_status s;
        s.kind = "amqp";
        if (stopped_flag_.load(std::memory_order_acquire)) {
            s.state = core::bus_state::disconnected;
        } else if (consumer_.up() && publisher_.up()) {
            s.state = core::bus_state::connected;
        } else {
            s.state = core::bus_state::connecting;
        }
        s.node = consumer_.node();
        return s;
    }

    void stop(std::chrono::milliseconds budget) override {
        std::lock_guard lock(lifecycle_);
        if (stopped_) {
            return;
        }
        stopped_ = true;
        stopped_flag_.store(true, std::memory_order_release);
        if (!started_) {
            return;
        }
        auto started = std::chrono::steady_clock::now();
        auto unbinds_before = stats_.unbinds.load(std::memory_order_relaxed);
        auto deadline = started + budget;
        consumer_.request_stop(deadline);
        publisher_.request_stop(deadline);
        // A thread still blocked a little past the budget has its socket cut.
        auto grace = deadline + std::chrono::milliseconds(500);
        consumer_.join(grace);
        publisher_.join(grace);
        // What the broker is spared: every key unbound here is one binding less for it to
        // clean up when the exclusive queue goes (rabbitmq-server #12926).
        core::log::info(
            "bus_stopped",
            {{"unbound", stats_.unbinds.load(std::memory_order_relaxed) - unbinds_before},
             {"bindings_left", stats_.bindings.load(std::memory_order_relaxed)},
             {"ms", std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
                        .count()}});
    }

private:
    const amqp_options options_;
    amqp_stats& stats_;
    amqp_publisher publisher_;
    amqp_consumer consumer_;
    std::mutex lifecycle_;
    bool started_ = false;
    bool stopped_ = false;
    std::atomic<bool> stopped_flag_{false};
};

void check_options(const amqp_options& o) {
    if (o.urls.empty()) {
        throw std::invalid_argument("no AMQP URL");
    }
    for (const auto& url : o.urls) {
        parse_url_list(url); // throws with the password redacted
    }
    if (o.exchange.empty() || o.exchange.size() > 255) {
        throw std::invalid_argument("the AMQP exchange name must be 1 to 255 bytes long");
    }
    if (o.exchange_type != "direct" && o.exchange_type != "topic") {
        throw std::invalid_argument("the AMQP exchange type must be direct or topic");
    }
    if (o.prefetch == 0 || o.prefetch > 65535) {
        throw std::invalid_argument("the AMQP prefetch must be 1 to 65535");
    }
    if (o.max_bindings == 0) {
        throw std::invalid_argument("the AMQP binding budget must be at least 1");
    }
    if (o.heartbeat.count() < 0 || o.heartbeat.count() > 65535) {
        throw std::invalid_argument("the AMQP heartbeat must be 0 to 65535 seconds");
    }
    if (o.probe_interval.count() <= 0) {
        throw std::invalid_argument("the AMQP probe interval must be positive");
    }
    if (o.reconnect_min.count() <= 0 || o.reconnect_max < o.reconnect_min) {
        throw std::invalid_argument("the AMQP reconnect delays must be positive, min <= max");
    }
    if (!o.cert_file.empty() && o.key_file.empty()) {
        throw std::invalid_argument("an AMQP client certificate needs its key file");
    }
}

} // namespace

std::unique_ptr<core::bus> make_amqp_bus(amqp_options options, amqp_stats& stats) {
    check_options(options);
    return std::make_unique<amqp_bus>(std::move(options), stats);
}

} // namespace kamea::bus
