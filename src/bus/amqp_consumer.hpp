#pragma once
// The consuming half of the RabbitMQ bus: its own thread and connection, an exclusive
// server-named queue, one binding per watched routing key (bus/wanted_set.hpp), prefetch
// with `multiple` acks. A small frame dispatcher reads deliveries and the replies of
// pipelined binds/unbinds from one stream. An idle connection is probed through the
// publisher (a message to its own queue) to catch a broker that is up but delivers nothing.

#include "bus/amqp_bus.hpp"
#include "bus/amqp_connection.hpp"
#include "bus/amqp_publisher.hpp"
#include "bus/wakeup.hpp"
#include "bus/wanted_set.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace kamea::bus {

class amqp_consumer {
public:
    using clock = std::chrono::steady_clock;

    amqp_consumer(const amqp_options& options, amqp_stats& stats, amqp_publisher& publisher);
    ~amqp_consumer();

    void start(core::bus::delivery_handler deliver);
    // From any thread.
    void watch(const core::device_key& key, core::bus::watch_handler done);
    void unwatch(const core::device_key& key);
    // `done` runs (on this thread) once a fence published after everything queued on the
    // publisher so far has come back, with every delivery before it handed over; at once, or
    // when the connection goes, if that cannot be known.
    void fence(std::function<void()> done);
    bool up() const { return up_.load(std::memory_order_acquire); }
    std::string node() const;

    // Stops consuming, unbinds every bound key until `deadline`, closes.
    void request_stop(clock::time_point deadline);
    void join(clock::time_point deadline);

private:
    struct pending_op {
        bool bind;
        std::string key;
    };
    // The delivery being assembled from its method, header and body frames.
    struct incoming {
        bool active = false;
        std::uint64_t tag = 0;
        std::uint64_t size = 0;
        std::uint64_t received = 0;
        bool header_seen = false;
        bool probe = false;
        std::uint64_t fence = 0; // a fence's id, 0 for any other message
        bool too_big = false;
        std::int64_t ingested_ns = 0;
        std::string body;
    };

    void run();
    void setup(amqp_connection& c);
    void serve(amqp_connection& c);
    void send_ops(amqp_connection& c, const std::vector<std::string>& keys, bool bind);
    void read_frames(amqp_connection& c);
    void on_method(const amqp_frame_t& frame);
    void on_header(const amqp_frame_t& frame);
    void on_body(const amqp_frame_t& frame);
    void complete_delivery();
    void hand_over(); // the batch to the delivery handler
    void flush(amqp_connection& c);
    void answer(wanted_set::answers answers);
    void send_fences();
    void release_fences(std::uint64_t up_to); // every fence whose id is <= up_to
    void go_down();

    const amqp_options& options_;
    amqp_stats& stats_;
    amqp_publisher& publisher_;
    core::bus::delivery_handler deliver_;
    wakeup wake_;
    socket_kicker kicker_;

    mutable std::mutex mutex_; // guards wanted_, node_ and the stop request
    wanted_set wanted_;
    std::string node_;
    bool stopping_ = false;
    clock::time_point stop_deadline_{};
    std::vector<std::function<void()>> fence_requests_;

    // The thread's own state for one connection.
    std::string queue_;
    std::string probe_key_;
    std::string consumer_tag_;
    std::deque<pending_op> ops_; // replies come back in order on the channel
    incoming incoming_;
    std::vector<core::telemetry> batch_;
    std::uint64_t last_tag_ = 0;
    std::uint64_t acked_tag_ = 0;
    bool stop_started_ = false;
    clock::time_point last_frame_{};
    std::uint64_t probe_seq_ = 0;
    std::uint64_t probe_id_ = 0; // outstanding, 0 = none
    clock::time_point probe_deadline_{};
    std::uint64_t fence_seq_ = 0;
    std::deque<std::pair<std::uint64_t, std::function<void()>>> fences_; // published, not back

    std::atomic<bool> up_{false};
    std::atomic<bool> exited_{false};
    std::thread thread_;
};

} // namespace kamea::bus
