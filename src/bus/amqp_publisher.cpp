#include "bus/amqp_publisher.hpp"

#include "bus/backoff.hpp"
#include "core/ingest_clock.hpp"
#include "core/log.hpp"

#include <amqp_framing.h>
#include <poll.h>

#include <algorithm>

namespace kamea::bus {

namespace {

constexpr std::chrono::milliseconds idle_poll{200}; // keeps heartbeats going while idle
constexpr std::size_t max_messages_per_turn = 1024; // then confirms are read
// The telemetry's ingestion time, wall clock (core/ingest_clock.hpp).
constexpr const char* ingested_header = "x-kamea-ingested-unix-ns";
constexpr const char* probe_header = "x-kamea-probe";
constexpr const char* fence_header = "x-kamea-fence";

int publish_one(amqp_connection& c, const std::string& exchange, const std::string& key, const char* header,
                std::int64_t header_value, const std::string& body) {
    amqp_table_entry_t entry{};
    entry.key = amqp_cstring_bytes(header);
    entry.value.kind = AMQP_FIELD_KIND_I64;
    entry.value.value.i64 = header_value;
    amqp_basic_properties_t props{};
    props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_HEADERS_FLAG;
    props.content_type = amqp_cstring_bytes("application/json");
    props.delivery_mode = 1; // transient: telemetry is live data
    props.headers = {1, &entry};
    // Not mandatory: a telemetry nobody watches is confirmed and dropped (docs/bus.md).
    return amqp_basic_publish(c.state(), amqp_connection::channel, bytes_of(exchange), bytes_of(key), 0, 0, &props,
                              bytes_of(body));
}

} // namespace

amqp_publisher::amqp_publisher(const amqp_options& options, amqp_stats& stats) : options_(options), stats_(stats) {}

amqp_publisher::~amqp_publisher() {
    if (thread_.joinable()) {
        request_stop(clock::now());
        join(clock::now() + std::chrono::seconds(1));
    }
}

void amqp_publisher::start() {
    thread_ = std::thread([this] { run(); });
}

void amqp_publisher::publish(core::telemetry_batch batch, core::bus::publish_handler done) {
    {
        std::lock_guard lock(mutex_);
        if (accepting_ && !blocked_ && !stopping_) {
            queue_.push_back({std::move(batch), std::move(done), {}, 0});
            wake_.signal();
            return;
        }
    }
    done(core::publish_result::unavailable);
}

void amqp_publisher::request_probe(std::string routing_key, std::uint64_t id) {
    std::lock_guard lock(mutex_);
    if (accepting_ && !blocked_ && !stopping_) {
        probes_.push_back({std::move(routing_key), id});
        wake_.signal();
    }
}

bool amqp_publisher::request_fence(std::string routing_key, std::uint64_t id) {
    std::lock_guard lock(mutex_);
    if (!accepting_ || blocked_ || stopping_) {
        return false;
    }
    queue_.push_back({nullptr, {}, std::move(routing_key), id});
    wake_.signal();
    return true;
}

void amqp_publisher::kick() {
    kicked_.store(true, std::memory_order_release);
    wake_.signal();
    kicker_.kick(); // in case the thread is stuck in a send
}

void amqp_publisher::request_stop(clock::time_point deadline) {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
        stopping_ = true;
        stop_deadline_ = deadline;
    }
    wake_.signal();
}

void amqp_publisher::join(clock::time_point deadline) {
    if (!thread_.joinable()) {
        return;
    }
    while (!exited_.load(std::memory_order_acquire) && clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (!exited_.load(std::memory_order_acquire)) {
        kicker_.kick();
    }
    thread_.join();
}

void amqp_publisher::set_accepting(bool on) {
    std::lock_guard lock(mutex_);
    accepting_ = on;
    blocked_ = false;
    flow_blocked_.store(false, std::memory_order_release);
}

void amqp_publisher::fail_everything() {
    std::deque<request> queued;
    {
        std::lock_guard lock(mutex_);
        accepting_ = false;
        queued.swap(queue_);
        probes_.clear();
    }
    for (auto& o : tracker_.fail_all()) {
        if (o.done) {
            o.done(o.result);
        }
    }
    for (auto& r : queued) {
        if (r.done) {
            r.done(core::publish_result::unavailable); // nothing of these was sent
        }
    }
}

void amqp_publisher::run() {
    backoff delays(options_.reconnect_min, options_.reconnect_max);
    std::size_t url_index = 0;
    bool connected_before = false;
    while (true) {
        {
            std::lock_guard lock(mutex_);
            if (stopping_) {
                break;
            }
        }
        const auto& url = options_.urls[url_index];
        std::string failure;
        bool reached = false; // connected, as opposed to a failed attempt
        try {
            amqp_connection c(url, options_, kicker_);
            amqp_confirm_select(c.state(), amqp_connection::channel);
            c.check(amqp_get_rpc_reply(c.state()), "confirm.select");
            amqp_exchange_declare(c.state(), amqp_connection::channel, bytes_of(options_.exchange),
                                  bytes_of(options_.exchange_type), 0, 1, 0, 0, amqp_empty_table);
            c.check(amqp_get_rpc_reply(c.state()), "declaring the exchange");
            kicked_.store(false, std::memory_order_release);
            if (connected_before) {
                stats_.reconnects.fetch_add(1, std::memory_order_relaxed);
            }
            connected_before = true;
            delays.reset();
            set_accepting(true);
            up_.store(true, std::memory_order_release);
            reached = true;
            core::log::info("bus_connected", {{"node", redact_url(url)}, {"connection", "publisher"}});
            serve(c);
            up_.store(false, std::memory_order_release);
            fail_everything();
            break; // serve() returns only when stopping
        } catch (const std::exception& e) {
            failure = e.what();
        }
        up_.store(false, std::memory_order_release);
        fail_everything();
        core::log::warn(reached ? "bus_disconnected" : "bus_connect_failed",
                        {{"node", redact_url(url)}, {"connection", "publisher"}, {"reason", failure}});
        url_index = (url_index + 1) % options_.urls.size();
        auto until = clock::now() + delays.next();
        while (clock::now() < until) {
            {
                std::lock_guard lock(mutex_);
                if (stopping_) {
                    break;
                }
            }
            pollfd pfd{wake_.fd(), POLLIN, 0};
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - clock::now());
            ::poll(&pfd, 1, static_cast<int>(std::max<long long>(left.count(), 0) + 1));
            wake_.drain();
        }
    }
    fail_everything();
    exited_.store(true, std::memory_order_release);
}

void amqp_publisher::serve(amqp_connection& c) {
    auto last_rx = clock::now();
    const auto heartbeat_loss = options_.heartbeat * 2 + std::chrono::seconds(1);
    while (true) {
        if (kicked_.exchange(false, std::memory_order_acq_rel)) {
            throw amqp_failure("the consumer found the broker unresponsive");
        }
        bool stopping = false;
        clock::time_point deadline;
        {
            std::lock_guard lock(mutex_);
            stopping = stopping_;
            deadline = stop_deadline_;
        }
        if (stopping) {
            std::deque<request> queued;
            {
                std::lock_guard lock(mutex_);
                accepting_ = false;
                queued.swap(queue_);
            }
            for (auto& r : queued) {
                if (r.done) {
                    r.done(core::publish_result::unavailable);
                }
            }
            if (tracker_.idle() || clock::now() >= deadline) {
                auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
                c.close(std::clamp(left, std::chrono::milliseconds(1), std::chrono::milliseconds(500)));
                return;
            }
        } else {
            send_queued(c);
        }
        auto timeout = idle_poll;
        if (stopping) {
            timeout = std::min(timeout, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()));
        }
        if (wait_readable(c, wake_.fd(), timeout)) {
            last_rx = clock::now();
            read_frames(c);
        }
        wake_.drain();
        if (options_.heartbeat.count() > 0 && clock::now() - last_rx > heartbeat_loss) {
            throw amqp_failure("heartbeat timeout");
        }
    }
}

// The requests taken for this turn and not sent go back to the front of the queue, in order
// (the reconnect answers them `unavailable`), and the connection is given up.
void amqp_publisher::fail_unsent(std::deque<request> unsent, const char* what, int status) {
    {
        std::lock_guard lock(mutex_);
        for (auto it = unsent.rbegin(); it != unsent.rend(); ++it) {
            queue_.push_front(std::move(*it));
        }
    }
    throw amqp_failure(std::string(what) + ": " + amqp_error_string2(status));
}

void amqp_publisher::send_queued(amqp_connection& c) {
    std::deque<request> queued;
    std::deque<probe> probes;
    {
        std::lock_guard lock(mutex_);
        probes.swap(probes_);
        std::size_t messages = 0;
        while (!queue_.empty() && messages < max_messages_per_turn) {
            messages += queue_.front().batch ? queue_.front().batch->size() : 1;
            queued.push_back(std::move(queue_.front()));
            queue_.pop_front();
        }
        if (!queue_.empty()) {
            wake_.signal(); // read the confirms, then come back for the rest
        }
    }
    for (const auto& p : probes) {
        tracker_.add(1, {});
        int status =
            publish_one(c, options_.exchange, p.routing_key, probe_header, static_cast<std::int64_t>(p.id), "probe");
        if (status != AMQP_STATUS_OK) {
            fail_unsent(std::move(queued), "publishing a probe", status);
        }
        probe_sent_.store(p.id, std::memory_order_release);
    }
    while (!queued.empty()) {
        auto r = std::move(queued.front());
        queued.pop_front();
        if (!r.batch) {
            tracker_.add(1, {});
            int status = publish_one(c, options_.exchange, r.fence_key, fence_header,
                                     static_cast<std::int64_t>(r.fence_id), "fence");
            if (status != AMQP_STATUS_OK) {
                fail_unsent(std::move(queued), "publishing a fence", status);
            }
            continue;
        }
        const auto& items = *r.batch;
        if (items.empty()) {
            r.done(core::publish_result::confirmed);
            continue;
        }
        tracker_.add(items.size(), std::move(r.done));
        for (const auto& t : items) {
            auto ns = t.ingested_ns != 0 ? core::to_wall_ns(t.ingested_ns) : core::wall_now_ns();
            int status = publish_one(c, options_.exchange, routing_key(t.key), ingested_header, ns, t.json);
            if (status != AMQP_STATUS_OK) {
                fail_unsent(std::move(queued), "publishing", status);
            }
        }
    }
}

void amqp_publisher::settle(std::uint64_t tag, bool multiple, bool nack) {
    auto acked = tracker_.acked();
    auto nacked = tracker_.nacked();
    auto outcomes = tracker_.settle(tag, multiple, nack);
    stats_.publish_confirms.fetch_add(tracker_.acked() - acked, std::memory_order_relaxed);
    stats_.publish_nacks.fetch_add(tracker_.nacked() - nacked, std::memory_order_relaxed);
    for (auto& o : outcomes) {
        if (o.done) {
            o.done(o.result);
        }
    }
}

void amqp_publisher::read_frames(amqp_connection& c) {
    timeval zero{0, 0};
    while (true) {
        amqp_frame_t frame;
        int status = amqp_simple_wait_frame_noblock(c.state(), &frame, &zero);
        if (status == AMQP_STATUS_TIMEOUT) {
            break;
        }
        amqp_connection::check(status, "reading");
        if (frame.frame_type != AMQP_FRAME_METHOD) {
            continue; // a returned message's content (not mandatory: not expected)
        }
        switch (frame.payload.method.id) {
        case AMQP_BASIC_ACK_METHOD: {
            const auto* m = static_cast<const amqp_basic_ack_t*>(frame.payload.method.decoded);
            settle(m->delivery_tag, m->multiple != 0, false);
            break;
        }
        case AMQP_BASIC_NACK_METHOD: {
            const auto* m = static_cast<const amqp_basic_nack_t*>(frame.payload.method.decoded);
            settle(m->delivery_tag, m->multiple != 0, true);
            break;
        }
        case AMQP_CONNECTION_BLOCKED_METHOD: {
            std::lock_guard lock(mutex_);
            blocked_ = true;
            flow_blocked_.store(true, std::memory_order_release);
            core::log::warn("bus_publisher_blocked", {{"reason", "the broker applies flow control"}});
            break;
        }
        case AMQP_CONNECTION_UNBLOCKED_METHOD: {
            std::lock_guard lock(mutex_);
            blocked_ = false;
            flow_blocked_.store(false, std::memory_order_release);
            core::log::info("bus_publisher_unblocked");
            break;
        }
        case AMQP_CHANNEL_CLOSE_METHOD: {
            const auto* m = static_cast<const amqp_channel_close_t*>(frame.payload.method.decoded);
            throw amqp_failure("channel closed by the broker: " + std::to_string(m->reply_code) + " " +
                               string_of(m->reply_text));
        }
        case AMQP_CONNECTION_CLOSE_METHOD: {
            const auto* m = static_cast<const amqp_connection_close_t*>(frame.payload.method.decoded);
            throw amqp_failure("connection closed by the broker: " + std::to_string(m->reply_code) + " " +
                               string_of(m->reply_text));
        }
        default:
            break;
        }
    }
    amqp_maybe_release_buffers(c.state());
}

} // namespace kamea::bus
