#pragma once
// The publishing half of the RabbitMQ bus: its own thread and connection, in confirm mode,
// so that the broker's flow control on it never stalls consumption. publish() only queues
// and wakes the thread; completions run on the thread. It also publishes the consumer's
// probes (bus/amqp_consumer.hpp).

#include "bus/amqp_bus.hpp"
#include "bus/amqp_connection.hpp"
#include "bus/confirm_tracker.hpp"
#include "bus/wakeup.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

namespace kamea::bus {

class amqp_publisher {
public:
    using clock = std::chrono::steady_clock;

    amqp_publisher(const amqp_options& options, amqp_stats& stats);
    ~amqp_publisher();

    void start();
    // From any thread: `unavailable` at once when not connected (or flow-blocked by the
    // broker), else queued for the thread.
    void publish(core::telemetry_batch batch, core::bus::publish_handler done);
    // From the consumer: publish a probe; probe_sent() tells which was last on the wire.
    void request_probe(std::string routing_key, std::uint64_t id);
    std::uint64_t probe_sent() const { return probe_sent_.load(std::memory_order_acquire); }
    // From the consumer: a fence, published after every batch queued before it (a probe jumps
    // the queue; a fence keeps its place), so that its return tells that those came back.
    // False when it cannot be published now.
    bool request_fence(std::string routing_key, std::uint64_t id);
    // From the consumer, which found the broker dead: reconnect now.
    void kick();
    bool up() const { return up_.load(std::memory_order_acquire); }
    // The broker holds publishing back (connection.blocked): no publish, probes included.
    bool flow_blocked() const { return flow_blocked_.load(std::memory_order_acquire); }

    // Stops taking publishes, waits for the confirms of those sent until `deadline`, closes.
    void request_stop(clock::time_point deadline);
    // Waits for the thread; cuts its socket when it is still blocked at `deadline`.
    void join(clock::time_point deadline);

private:
    struct request {
        core::telemetry_batch batch;     // null for a fence
        core::bus::publish_handler done; // empty for a fence
        std::string fence_key;
        std::uint64_t fence_id = 0;
    };
    struct probe {
        std::string routing_key;
        std::uint64_t id = 0;
    };

    void run();
    void serve(amqp_connection& c);
    void send_queued(amqp_connection& c);
    [[noreturn]] void fail_unsent(std::deque<request> unsent, const char* what, int status);
    void read_frames(amqp_connection& c);
    void settle(std::uint64_t tag, bool multiple, bool nack);
    void set_accepting(bool on);
    void fail_everything();

    const amqp_options& options_;
    amqp_stats& stats_;
    wakeup wake_;
    socket_kicker kicker_;
    confirm_tracker tracker_; // the thread's

    std::mutex mutex_; // guards the members up to the thread
    std::deque<request> queue_;
    std::deque<probe> probes_;
    bool accepting_ = false;
    bool blocked_ = false;
    bool stopping_ = false;
    clock::time_point stop_deadline_{};

    std::atomic<bool> up_{false};
    std::atomic<bool> flow_blocked_{false};
    std::atomic<bool> kicked_{false};
    std::atomic<std::uint64_t> probe_sent_{0};
    std::atomic<bool> exited_{false};
    std::thread thread_;
};

} // namespace kamea::bus
