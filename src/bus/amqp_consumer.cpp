#include "bus/amqp_consumer.hpp"

#include "bus/backoff.hpp"
#include "bus/message_reader.hpp"
#include "core/ingest_clock.hpp"
#include "core/log.hpp"

#include <amqp_framing.h>
#include <poll.h>

#include <algorithm>
#include <memory>

namespace kamea::bus {

namespace {

constexpr std::size_t max_in_flight = 512; // pipelined binds/unbinds awaiting their -ok
constexpr std::size_t max_batch = 256;     // deliveries handed over in one call
constexpr std::chrono::milliseconds idle_poll{200};
constexpr std::chrono::milliseconds max_probe_timeout{5000};
// The telemetry's ingestion time, wall clock, from whichever instance published it.
constexpr const char* ingested_header = "x-kamea-ingested-unix-ns";
constexpr const char* probe_header = "x-kamea-probe";
constexpr const char* fence_header = "x-kamea-fence";

std::chrono::milliseconds until(std::chrono::steady_clock::time_point t) {
    return std::chrono::ceil<std::chrono::milliseconds>(t - std::chrono::steady_clock::now());
}

} // namespace

amqp_consumer::amqp_consumer(const amqp_options& options, amqp_stats& stats, amqp_publisher& publisher)
    : options_(options), stats_(stats), publisher_(publisher), wanted_(options.max_bindings, options.unbind_linger) {}

amqp_consumer::~amqp_consumer() {
    if (thread_.joinable()) {
        request_stop(clock::now());
        join(clock::now() + std::chrono::seconds(1));
    }
}

void amqp_consumer::start(core::bus::delivery_handler deliver) {
    deliver_ = std::move(deliver);
    thread_ = std::thread([this] { run(); });
}

void amqp_consumer::answer(wanted_set::answers answers) {
    for (auto& a : answers) {
        if (a.result == core::watch_result::refused) {
            stats_.bindings_refused.fetch_add(1, std::memory_order_relaxed);
        }
        if (a.waited) {
            stats_.bind_latency.observe(*a.waited);
        }
        a.done(a.result);
    }
}

void amqp_consumer::watch(const core::device_key& key, core::bus::watch_handler done) {
    wanted_set::answers answers;
    bool wake = false;
    {
        std::lock_guard lock(mutex_);
        if (stopping_) {
            answers.push_back({std::move(done), core::watch_result::deferred, std::nullopt});
        } else {
            answers = wanted_.watch(routing_key(key), std::move(done), clock::now());
            wake = wanted_.has_binds();
        }
    }
    if (wake) {
        wake_.signal();
    }
    answer(std::move(answers));
}

void amqp_consumer::unwatch(const core::device_key& key) {
    {
        std::lock_guard lock(mutex_);
        wanted_.unwatch(routing_key(key), clock::now());
    }
    wake_.signal(); // the thread's next wake-up may now be a linger's end
}

void amqp_consumer::fence(std::function<void()> done) {
    {
        std::lock_guard lock(mutex_);
        if (up_.load(std::memory_order_acquire) && !stopping_) {
            fence_requests_.push_back(std::move(done));
            done = nullptr;
        }
    }
    if (done) {
        done(); // no connection: nothing to wait for
        return;
    }
    wake_.signal();
}

// On the thread: each new fence goes to the publisher, keyed to this queue's probe key.
void amqp_consumer::send_fences() {
    std::vector<std::function<void()>> requests;
    {
        std::lock_guard lock(mutex_);
        requests.swap(fence_requests_);
    }
    for (auto& done : requests) {
        auto id = ++fence_seq_;
        if (publisher_.request_fence(probe_key_, id)) {
            fences_.emplace_back(id, std::move(done));
        } else {
            done(); // the publisher is down or held back: it has nothing queued to wait for
        }
    }
}

void amqp_consumer::release_fences(std::uint64_t up_to) {
    while (!fences_.empty() && fences_.front().first <= up_to) {
        auto done = std::move(fences_.front().second);
        fences_.pop_front();
        done();
    }
}

std::string amqp_consumer::node() const {
    std::lock_guard lock(mutex_);
    return node_;
}

void amqp_consumer::request_stop(clock::time_point deadline) {
    {
        std::lock_guard lock(mutex_);
        if (!stopping_) {
            stopping_ = true;
            stop_deadline_ = deadline;
        }
    }
    wake_.signal();
}

void amqp_consumer::join(clock::time_point deadline) {
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

void amqp_consumer::go_down() {
    wanted_set::answers answers;
    std::vector<std::function<void()>> requests;
    {
        std::lock_guard lock(mutex_);
        answers = wanted_.set_down();
        node_.clear();
        requests.swap(fence_requests_);
    }
    release_fences(fence_seq_); // what they waited for went with the connection
    for (auto& done : requests) {
        done();
    }
    stats_.bindings.store(0, std::memory_order_relaxed);
    answer(std::move(answers));
}

void amqp_consumer::run() {
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
            setup(c);
            {
                std::lock_guard lock(mutex_);
                wanted_.set_up();
                node_ = redact_url(url);
            }
            if (connected_before) {
                stats_.reconnects.fetch_add(1, std::memory_order_relaxed);
            }
            connected_before = true;
            delays.reset();
            up_.store(true, std::memory_order_release);
            reached = true;
            core::log::info("bus_connected",
                            {{"node", redact_url(url)}, {"connection", "consumer"}, {"queue", queue_}});
            serve(c);
            up_.store(false, std::memory_order_release);
            break; // serve() returns only when stopping
        } catch (const std::exception& e) {
            failure = e.what();
        }
        up_.store(false, std::memory_order_release);
        if (!stop_started_) {
            hand_over(); // read before the loss: still worth delivering
        }
        batch_.clear();
        go_down();
        core::log::warn(reached ? "bus_disconnected" : "bus_connect_failed",
                        {{"node", redact_url(url)}, {"connection", "consumer"}, {"reason", failure}});
        url_index = (url_index + 1) % options_.urls.size();
        auto wait_end = clock::now() + delays.next();
        while (clock::now() < wait_end) {
            {
                std::lock_guard lock(mutex_);
                if (stopping_) {
                    break;
                }
            }
            pollfd pfd{wake_.fd(), POLLIN, 0};
            ::poll(&pfd, 1, static_cast<int>(std::max<long long>(until(wait_end).count(), 0)));
            wake_.drain();
        }
    }
    go_down();
    exited_.store(true, std::memory_order_release);
}

void amqp_consumer::setup(amqp_connection& c) {
    auto* s = c.state();
    auto ch = amqp_connection::channel;
    amqp_exchange_declare(s, ch, bytes_of(options_.exchange), bytes_of(options_.exchange_type), 0, 1, 0, 0,
                          amqp_empty_table);
    c.check(amqp_get_rpc_reply(s), "declaring the exchange");

    amqp_table_entry_t args[2]{};
    args[0].key = amqp_cstring_bytes("x-max-length");
    args[0].value.kind = AMQP_FIELD_KIND_I64;
    args[0].value.value.i64 = static_cast<std::int64_t>(options_.queue_max_length);
    args[1].key = amqp_cstring_bytes("x-overflow");
    args[1].value.kind = AMQP_FIELD_KIND_UTF8;
    args[1].value.value.bytes = amqp_cstring_bytes("drop-head");
    // Exclusive, not auto-delete: it goes with the connection, and the basic.cancel of stop()
    // must not delete it (with its bindings) before they are unbound one by one.
    auto* declared = amqp_queue_declare(s, ch, amqp_empty_bytes, 0, 0, 1, 0, amqp_table_t{2, args});
    c.check(amqp_get_rpc_reply(s), "declaring the queue");
    queue_ = string_of(declared->queue);
    probe_key_ = "kamea.probe." + queue_;

    amqp_queue_bind(s, ch, bytes_of(queue_), bytes_of(options_.exchange), bytes_of(probe_key_), amqp_empty_table);
    c.check(amqp_get_rpc_reply(s), "binding the probe key");
    amqp_basic_qos(s, ch, 0, static_cast<std::uint16_t>(std::min(options_.prefetch, 65535U)), 0);
    c.check(amqp_get_rpc_reply(s), "basic.qos");
    auto* consuming = amqp_basic_consume(s, ch, bytes_of(queue_), amqp_empty_bytes, 0, 0, 1, amqp_empty_table);
    c.check(amqp_get_rpc_reply(s), "basic.consume");
    consumer_tag_ = string_of(consuming->consumer_tag);

    ops_.clear();
    incoming_ = {};
    batch_.clear();
    last_tag_ = acked_tag_ = 0;
    stop_started_ = false;
    probe_id_ = 0;
    last_frame_ = clock::now();
}

void amqp_consumer::send_ops(amqp_connection& c, const std::vector<std::string>& keys, bool bind) {
    for (const auto& key : keys) {
        int status;
        if (bind) {
            amqp_queue_bind_t m{0, bytes_of(queue_), bytes_of(options_.exchange), bytes_of(key), 0, amqp_empty_table};
            status = amqp_send_method(c.state(), amqp_connection::channel, AMQP_QUEUE_BIND_METHOD, &m);
        } else {
            amqp_queue_unbind_t m{0, bytes_of(queue_), bytes_of(options_.exchange), bytes_of(key), amqp_empty_table};
            status = amqp_send_method(c.state(), amqp_connection::channel, AMQP_QUEUE_UNBIND_METHOD, &m);
        }
        // Recorded before the check: a failure takes the whole connection down anyway.
        ops_.push_back({bind, key});
        amqp_connection::check(status, bind ? "sending queue.bind" : "sending queue.unbind");
    }
}

void amqp_consumer::serve(amqp_connection& c) {
    auto last_rx = clock::now();
    const auto heartbeat_loss = options_.heartbeat * 2 + std::chrono::seconds(1);
    const auto probe_timeout = std::min(options_.probe_interval, max_probe_timeout);
    while (true) {
        auto now = clock::now();
        bool stopping = false;
        clock::time_point deadline;
        {
            std::lock_guard lock(mutex_);
            stopping = stopping_;
            deadline = stop_deadline_;
        }
        if (stopping && !stop_started_) {
            stop_started_ = true;
            batch_.clear(); // nothing is delivered once stop() began
            release_fences(fence_seq_);
            {
                std::lock_guard lock(mutex_);
                wanted_.begin_stop();
            }
            // Its cancel-ok is not an unbind-ok: on_method() passes it by.
            amqp_basic_cancel_t cancel{bytes_of(consumer_tag_), 0};
            amqp_connection::check(
                amqp_send_method(c.state(), amqp_connection::channel, AMQP_BASIC_CANCEL_METHOD, &cancel),
                "sending basic.cancel");
        }

        std::vector<std::string> binds;
        std::vector<std::string> unbinds;
        bool settled = false;
        std::optional<clock::time_point> expiry;
        {
            std::lock_guard lock(mutex_);
            auto room = max_in_flight - std::min(max_in_flight, ops_.size());
            if (!stop_started_) {
                binds = wanted_.take_binds(room);
                unbinds = wanted_.take_unbinds(now, room - binds.size());
            } else {
                unbinds = wanted_.take_stop_unbinds(room);
                settled = ops_.empty() && unbinds.empty() && wanted_.stop_settled();
            }
            expiry = wanted_.next_expiry();
            stats_.bindings.store(static_cast<std::int64_t>(wanted_.bound()), std::memory_order_relaxed);
        }
        if (stop_started_ && (settled || now >= deadline)) {
            c.close(std::clamp(until(deadline), std::chrono::milliseconds(1), std::chrono::milliseconds(500)));
            return;
        }
        send_ops(c, binds, true);
        send_ops(c, unbinds, false);
        if (!stop_started_) {
            send_fences();
        }

        auto timeout = idle_poll;
        if (!stop_started_) {
            if (probe_id_ != 0 && now >= probe_deadline_) {
                if (publisher_.probe_sent() >= probe_id_) {
                    up_.store(false, std::memory_order_release); // down before the count shows
                    stats_.probes_lost.fetch_add(1, std::memory_order_relaxed);
                    core::log::warn("bus_probe_lost", {{"queue", queue_}, {"timeout_ms", probe_timeout.count()}});
                    publisher_.kick();
                    throw amqp_failure("a probe did not come back");
                }
                if (publisher_.up() && !publisher_.flow_blocked()) {
                    // Asked of a publisher that was up and not held back, yet never sent: its
                    // thread is stuck in a send to a broker that stopped reading. Cut its
                    // socket, so it reconnects and its pending publishes get their answer.
                    core::log::warn("bus_publisher_stuck", {{"timeout_ms", probe_timeout.count()}});
                    publisher_.kick();
                }
                probe_id_ = 0; // never published: no verdict on the consumer's connection
            }
            if (probe_id_ == 0 && now - last_frame_ >= options_.probe_interval) {
                probe_id_ = ++probe_seq_;
                probe_deadline_ = now + probe_timeout;
                publisher_.request_probe(probe_key_, probe_id_);
            }
            auto next_probe = probe_id_ != 0 ? probe_deadline_ : last_frame_ + options_.probe_interval;
            timeout = std::min(timeout, until(next_probe));
            if (expiry) {
                timeout = std::min(timeout, until(*expiry));
            }
        } else {
            timeout = std::min(timeout, until(deadline));
        }
        if (wait_readable(c, wake_.fd(), std::max(timeout, std::chrono::milliseconds(0)))) {
            last_rx = clock::now();
            read_frames(c);
        }
        wake_.drain();
        if (options_.heartbeat.count() > 0 && clock::now() - last_rx > heartbeat_loss) {
            throw amqp_failure("heartbeat timeout");
        }
    }
}

void amqp_consumer::read_frames(amqp_connection& c) {
    timeval zero{0, 0};
    while (batch_.size() < max_batch) {
        amqp_frame_t frame;
        int status = amqp_simple_wait_frame_noblock(c.state(), &frame, &zero);
        if (status == AMQP_STATUS_TIMEOUT) {
            break;
        }
        amqp_connection::check(status, "reading");
        last_frame_ = clock::now();
        if (frame.channel != amqp_connection::channel && frame.frame_type != AMQP_FRAME_METHOD) {
            continue;
        }
        switch (frame.frame_type) {
        case AMQP_FRAME_METHOD:
            on_method(frame);
            break;
        case AMQP_FRAME_HEADER:
            on_header(frame);
            break;
        case AMQP_FRAME_BODY:
            on_body(frame);
            break;
        default:
            break;
        }
    }
    flush(c);
    amqp_maybe_release_buffers(c.state());
}

void amqp_consumer::on_method(const amqp_frame_t& frame) {
    const auto& method = frame.payload.method;
    switch (method.id) {
    case AMQP_BASIC_DELIVER_METHOD: {
        const auto* m = static_cast<const amqp_basic_deliver_t*>(method.decoded);
        incoming_ = {};
        incoming_.active = true;
        incoming_.tag = m->delivery_tag;
        break;
    }
    case AMQP_QUEUE_BIND_OK_METHOD:
    case AMQP_QUEUE_UNBIND_OK_METHOD: {
        bool bind = method.id == AMQP_QUEUE_BIND_OK_METHOD;
        if (ops_.empty() || ops_.front().bind != bind) {
            throw amqp_failure("a bind/unbind reply out of order");
        }
        auto key = std::move(ops_.front().key);
        ops_.pop_front();
        wanted_set::answers answers;
        {
            std::lock_guard lock(mutex_);
            if (bind) {
                answers = wanted_.bind_ok(key, clock::now());
            } else {
                wanted_.unbind_ok(key);
                stats_.unbinds.fetch_add(1, std::memory_order_relaxed);
            }
            stats_.bindings.store(static_cast<std::int64_t>(wanted_.bound()), std::memory_order_relaxed);
        }
        answer(std::move(answers));
        break;
    }
    case AMQP_BASIC_CANCEL_METHOD:
        throw amqp_failure("the broker cancelled the consumer (queue deleted?)");
    case AMQP_CHANNEL_CLOSE_METHOD: {
        const auto* m = static_cast<const amqp_channel_close_t*>(method.decoded);
        throw amqp_failure("channel closed by the broker: " + std::to_string(m->reply_code) + " " +
                           string_of(m->reply_text));
    }
    case AMQP_CONNECTION_CLOSE_METHOD: {
        const auto* m = static_cast<const amqp_connection_close_t*>(method.decoded);
        throw amqp_failure("connection closed by the broker: " + std::to_string(m->reply_code) + " " +
                           string_of(m->reply_text));
    }
    default:
        break;
    }
}

void amqp_consumer::on_header(const amqp_frame_t& frame) {
    if (!incoming_.active || incoming_.header_seen) {
        return;
    }
    incoming_.header_seen = true;
    incoming_.size = frame.payload.properties.body_size;
    const auto* props = static_cast<const amqp_basic_properties_t*>(frame.payload.properties.decoded);
    if (props != nullptr && (props->_flags & AMQP_BASIC_HEADERS_FLAG) != 0) {
        std::int64_t value = 0;
        incoming_.probe = table_int(props->headers, probe_header, value);
        if (table_int(props->headers, fence_header, value) && value > 0) {
            incoming_.fence = static_cast<std::uint64_t>(value);
        }
        if (table_int(props->headers, ingested_header, value)) {
            incoming_.ingested_ns = value;
        }
    }
    incoming_.too_big = incoming_.size > options_.max_message_bytes;
    if (!incoming_.too_big && !incoming_.probe && incoming_.fence == 0) {
        incoming_.body.reserve(incoming_.size);
    }
    if (incoming_.size == 0) {
        complete_delivery();
    }
}

void amqp_consumer::on_body(const amqp_frame_t& frame) {
    if (!incoming_.active || !incoming_.header_seen) {
        return;
    }
    const auto& fragment = frame.payload.body_fragment;
    incoming_.received += fragment.len;
    if (!incoming_.too_big && !incoming_.probe && incoming_.fence == 0) {
        incoming_.body.append(static_cast<const char*>(fragment.bytes), fragment.len);
    }
    if (incoming_.received >= incoming_.size) {
        complete_delivery();
    }
}

void amqp_consumer::complete_delivery() {
    auto& in = incoming_;
    in.active = false;
    last_tag_ = std::max(last_tag_, in.tag);
    if (in.probe) {
        probe_id_ = 0; // the broker routes: any probe of ours back in time will do
        return;
    }
    if (in.fence != 0) {
        probe_id_ = 0;
        if (!stop_started_) {
            hand_over(); // what came before the fence, first
            release_fences(in.fence);
        }
        return;
    }
    if (stop_started_) {
        return;
    }
    if (in.too_big) {
        stats_.malformed_dropped.fetch_add(1, std::memory_order_relaxed);
        core::log::debug("bus_message_dropped", {{"reason", "too large"}, {"bytes", in.size}});
        return;
    }
    auto read = read_message(in.body, options_.max_message_bytes);
    if (auto* rejected = std::get_if<message_rejected>(&read)) {
        stats_.malformed_dropped.fetch_add(1, std::memory_order_relaxed);
        core::log::debug("bus_message_dropped", {{"reason", rejected->reason}});
        return;
    }
    auto& t = std::get<core::telemetry>(read);
    // A message from another publisher (no header) is stamped on arrival.
    t.ingested_ns = in.ingested_ns != 0 ? core::from_wall_ns(in.ingested_ns) : core::steady_now_ns();
    stats_.deliveries_in.fetch_add(1, std::memory_order_relaxed);
    batch_.push_back(std::move(t));
}

void amqp_consumer::hand_over() {
    if (batch_.empty()) {
        return;
    }
    auto batch = std::make_shared<const std::vector<core::telemetry>>(std::move(batch_));
    batch_.clear();
    batch_.reserve(max_batch);
    try {
        deliver_(std::move(batch));
    } catch (const std::exception& e) {
        core::log::error("bus_delivery_failed", {{"reason", e.what()}});
    }
}

void amqp_consumer::flush(amqp_connection& c) {
    hand_over();
    // Acknowledged after the hand-over, malformed and probe messages included.
    if (last_tag_ > acked_tag_) {
        amqp_connection::check(amqp_basic_ack(c.state(), amqp_connection::channel, last_tag_, 1), "acknowledging");
        acked_tag_ = last_tag_;
    }
}

} // namespace kamea::bus
