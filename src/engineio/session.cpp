#include "engineio/session.hpp"

#include "core/log.hpp"
#include "engineio/counters.hpp"

#include <boost/asio/post.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>

namespace kamea::engineio {

namespace {
std::atomic<std::uint64_t> sessions_numbered{0};
}

const char* to_string(close_reason r) {
    switch (r) {
    case close_reason::transport_close:
        return "transport close";
    case close_reason::transport_error:
        return "transport error";
    case close_reason::ping_timeout:
        return "ping timeout";
    case close_reason::parse_error:
        return "parse error";
    case close_reason::server_close:
        return "server close";
    case close_reason::slow_client:
        return "slow client";
    case close_reason::shutdown:
        return "server shutting down";
    }
    return "unknown";
}

session::session(const boost::asio::io_context::executor_type& ex, session_timers& timers, std::string sid,
                 transport_kind kind, std::shared_ptr<const session_options> options, handshake_info handshake)
    : ex_(ex), timers_(timers), sid_(std::move(sid)),
      number_(sessions_numbered.fetch_add(1, std::memory_order_relaxed) + 1), kind_(kind), options_(std::move(options)),
      handshake_(std::move(handshake)) {}

session::~session() {
    timers_.disarm(heartbeat_);
    timers_.disarm(upgrade_or_linger_);
}

void session::open() {
    // Key order and key set as the reference server (E8).
    boost::json::object o;
    o["sid"] = sid_;
    boost::json::array upgrades;
    if (kind_ == transport_kind::polling) {
        upgrades.emplace_back("websocket");
    }
    o["upgrades"] = std::move(upgrades);
    o["pingInterval"] = options_->ping_interval.count();
    o["pingTimeout"] = options_->ping_timeout.count();
    o["maxPayload"] = options_->max_payload;
    options_->stats->sessions_opened.fetch_add(1, std::memory_order_relaxed);
    (kind_ == transport_kind::polling ? options_->stats->polling_sessions : options_->stats->websocket_sessions)
        .fetch_add(1, std::memory_order_relaxed);
    counted_ = true;
    send(make_text(packet_type::open, boost::json::serialize(o)));
    timers_.arm(heartbeat_, options_->ping_interval);
}

void session::on_deadline(deadline& d) {
    auto keep = shared_from_this(); // a close may release the registry's reference
    if (&d == &heartbeat_) {
        on_heartbeat_due();
    } else if (closed()) {
        finish(); // the linger is over
    } else {
        on_upgrade_timeout();
    }
}

void session::on_heartbeat_due() {
    if (closed()) {
        return;
    }
    if (awaiting_pong_) {
        close(close_reason::ping_timeout);
        return;
    }
    // Pings are shared by all sessions: one immutable packet for the whole process.
    static const wire_ptr ping = make_text(packet_type::ping);
    awaiting_pong_ = true;
    send(ping);
    timers_.arm(heartbeat_, options_->ping_timeout);
}

void session::on_upgrade_timeout() {
    if (probe_link_ == nullptr) {
        return;
    }
    options_->stats->upgrade_timeouts.fetch_add(1, std::memory_order_relaxed);
    auto* probe = probe_link_;
    abort_upgrade(probe); // U6
    probe->wake();
}

void session::send(wire_ptr p) {
    if (closed() || overflowed_) {
        if (overflowed_) {
            options_->stats->dropped_packets.fetch_add(1, std::memory_order_relaxed);
        }
        return;
    }
    if (options_->conflate_after != 0 && !p->conflate_key.empty() && lagging(p->bytes.size()) && conflate(p)) {
        return; // replaced a queued one: the transport already has something to take
    }
    queued_bytes_ += p->bytes.size();
    if (conflating_ && !p->conflate_key.empty()) {
        (*conflatable_)[p->conflate_key] = queue_.size();
    }
    queue_.push_back(std::move(p));
    if (queued_bytes_ + in_flight_bytes_ > options_->max_send_queue) {
        // The client cannot keep up: drop what it has not taken and cut it off. The close
        // is posted, never run inside the caller's loop (a broadcast may be iterating a room).
        options_->stats->dropped_packets.fetch_add(queue_.size(), std::memory_order_relaxed);
        queue_.clear();
        queue_taken();
        queued_bytes_ = 0;
        overflowed_ = true;
        options_->stats->slow_clients.fetch_add(1, std::memory_order_relaxed);
        core::log::info("slow_client_disconnected", {{"conn", number_}, {"limit", options_->max_send_queue}});
        boost::asio::post(ex_, [weak = weak_from_this()] {
            if (auto self = weak.lock()) {
                self->on_transport_closed(close_reason::slow_client);
            }
        });
        return;
    }
    wake_active();
}

bool session::lagging(std::size_t more) const {
    if (queued_bytes_ + in_flight_bytes_ + more <= options_->conflate_after) {
        return false;
    }
    // Past the soft limit while the client is not taking: a WebSocket write still waits for
    // the socket, or no polling GET is there. A burst queued in one turn for a client that
    // takes it is not a lag.
    return kind_ == transport_kind::websocket ? in_flight_bytes_ > 0 : poll_link_ == nullptr;
}

bool session::conflate(wire_ptr& p) {
    if (!conflating_) {
        conflating_ = true; // first lag past the soft limit: index what is queued
        if (!conflatable_) {
            conflatable_ = std::make_unique<std::unordered_map<std::string_view, std::size_t>>();
        }
        for (std::size_t i = 0; i < queue_.size(); ++i) {
            if (!queue_[i]->conflate_key.empty()) {
                (*conflatable_)[queue_[i]->conflate_key] = i;
            }
        }
    }
    auto& index_of = *conflatable_;
    auto it = index_of.find(p->conflate_key);
    if (it == index_of.end()) {
        return false;
    }
    auto index = it->second;
    index_of.erase(it); // its key views the packet about to be released
    auto& slot = queue_[index];
    queued_bytes_ = queued_bytes_ - slot->bytes.size() + p->bytes.size();
    slot = std::move(p);
    index_of.emplace(slot->conflate_key, index);
    options_->stats->conflated_packets.fetch_add(1, std::memory_order_relaxed);
    return true;
}

void session::queue_taken() {
    if (conflating_) {
        conflatable_->clear(); // its buckets are kept: a client that lagged once may again
        conflating_ = false;
    }
}

void session::wake_active() {
    if (kind_ == transport_kind::websocket) {
        if (ws_link_ != nullptr) {
            ws_link_->wake();
        }
    } else if (poll_link_ != nullptr) {
        poll_link_->wake();
    }
}

void session::close(close_reason reason) {
    if (closed()) {
        return;
    }
    bool server_side = reason == close_reason::server_close || reason == close_reason::shutdown;
    // Only a close of this client says goodbye (DISCONNECT: "do not reconnect"). A shutdown
    // closes the transport alone, as the reference's io.close() does, so the stock client
    // reports "transport close" and reconnects, to another instance (contract section 10).
    if (reason == close_reason::server_close && handler_) {
        handler_->before_close(reason);
    }
    phase_ = phase::closed;
    reason_ = reason;
    auto& c = *options_->stats;
    c.sessions_closed.fetch_add(1, std::memory_order_relaxed);
    if (counted_) {
        (kind_ == transport_kind::polling ? c.polling_sessions : c.websocket_sessions)
            .fetch_sub(1, std::memory_order_relaxed);
        counted_ = false;
    }
    if (reason == close_reason::parse_error) {
        c.protocol_errors.fetch_add(1, std::memory_order_relaxed);
    } else if (reason == close_reason::ping_timeout) {
        c.ping_timeouts.fetch_add(1, std::memory_order_relaxed);
    }
    timers_.disarm(heartbeat_);
    timers_.disarm(upgrade_or_linger_);
    if (probe_link_ != nullptr) {
        std::exchange(probe_link_, nullptr)->wake(); // the probe sees it is no longer wanted
    }
    if (handler_) {
        handler_->on_close(reason);
    }
    if (kind_ == transport_kind::websocket) {
        // The writer flushes the queue, sends a close frame, and then detaches.
        if (ws_link_ != nullptr) {
            ws_link_->wake();
        } else {
            finish();
        }
        return;
    }
    if (poll_link_ != nullptr) {
        poll_link_->wake(); // answered with what is queued plus the close packet
        if (!server_side) {
            finish(); // the sid is unknown from now on, as in the reference (E14 ping test)
        }
        return;
    }
    if (!server_side && !noop_next_) {
        finish();
        return;
    }
    // Keep the close for the next GET (P10); the reference gives up after 30 s. A client
    // that posted a close (P9) may have its last GET still on the way (it can arrive after
    // the POST on another connection): it gets its noop within a ping timeout.
    timers_.arm(upgrade_or_linger_, server_side ? std::chrono::milliseconds(30000) : options_->ping_timeout);
}

void session::finish() {
    if (phase_ == phase::finished) {
        return;
    }
    phase_ = phase::finished;
    timers_.disarm(heartbeat_);
    timers_.disarm(upgrade_or_linger_);
    auto keep = shared_from_this(); // the registry may hold the last reference
    held_.reset();
    if (on_finished_) {
        on_finished_(sid_);
    }
}

void session::on_transport_closed(close_reason reason) {
    close(reason);
    finish();
}

void session::on_packet(const packet& p) {
    if (closed()) {
        return;
    }
    switch (p.type) {
    case packet_type::pong:
        if (awaiting_pong_) {
            awaiting_pong_ = false;
            timers_.arm(heartbeat_, options_->ping_interval);
        }
        return;
    case packet_type::message:
        if (handler_) {
            handler_->on_message(p.data, p.binary);
        }
        return;
    case packet_type::close:
        // P9 / E16: the client is leaving.
        on_transport_closed(close_reason::transport_close);
        return;
    case packet_type::noop:
        return;
    case packet_type::ping:    // invalid heartbeat direction (E13)
    case packet_type::open:    // never sent by a client
    case packet_type::upgrade: // only valid on a probe WebSocket
        close(close_reason::parse_error);
        finish();
        return;
    }
}

session::poll_result session::attach_poll(transport_link* link) {
    if (kind_ != transport_kind::polling) {
        return poll_result::wrong_transport;
    }
    if (poll_link_ != nullptr) {
        // P6: the first GET completes with a close packet, the second gets 400.
        auto first = poll_link_;
        close(close_reason::transport_error);
        first->wake();
        finish();
        return poll_result::duplicate;
    }
    poll_link_ = link;
    return poll_result::ok;
}

bool session::poll_ready() const {
    return closed() || probed_ || noop_next_ || kind_ != transport_kind::polling || !queue_.empty();
}

std::string session::take_poll_payload(std::vector<std::int64_t>* stamps) {
    poll_link_ = nullptr;
    if (noop_next_ || probed_ || kind_ != transport_kind::polling) {
        noop_next_ = false;
        if (closed()) {
            finish();
        }
        return "6"; // an upgrade is under way (U3), or the client sent a close (P9)
    }
    bool goodbye = reason_ == close_reason::server_close;
    // P1 with a cap: at most max_packets_per_poll packets per response (session.hpp says
    // why); the rest waits for the next GET. When the close packet goes with the data (any
    // close but the goodbye of a session still reachable, K4), it takes a slot too.
    bool close_joins_data = closed() && (phase_ == phase::finished || !goodbye);
    std::size_t n = std::min(queue_.size(), max_packets_per_poll);
    if (close_joins_data && queue_.size() >= max_packets_per_poll) {
        n = max_packets_per_poll - 1;
    }
    std::string body;
    std::size_t taken_bytes = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (!body.empty()) {
            body += record_separator;
        }
        append_polling(*queue_[i], body);
        taken_bytes += queue_[i]->bytes.size();
        if (stamps != nullptr && queue_[i]->stamp_ns != 0) {
            stamps->push_back(queue_[i]->stamp_ns);
        }
    }
    if (n < queue_.size() && phase_ != phase::finished) {
        // More to come: the client polls again as soon as it has read this (and a closed
        // session stays reachable until its close packet is delivered).
        queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
        queue_taken();
        queued_bytes_ -= taken_bytes;
        return body;
    }
    if (n < queue_.size()) {
        // The sid is already gone (a client-side end): nobody can come back for the rest.
        options_->stats->dropped_packets.fetch_add(queue_.size() - n, std::memory_order_relaxed);
    }
    queue_.clear();
    queue_taken();
    queued_bytes_ = 0;
    if (!closed()) {
        return body;
    }
    if (goodbye && !body.empty() && phase_ != phase::finished) {
        // The goodbye packets (e.g. DISCONNECT) go alone; the close waits for the next GET
        // (K4). In one payload the JS client would act on the close first and report
        // "transport close" instead of "io server disconnect".
        return body;
    }
    if (body.empty() && goodbye) {
        body = "6"; // K4: "6\x1e1" on the poll after the goodbye packets
    }
    if (!body.empty()) {
        body += record_separator;
    }
    body += '1';
    finish();
    return body;
}

void session::detach_poll(transport_link* link) {
    if (poll_link_ != link) {
        return;
    }
    poll_link_ = nullptr;
    if (kind_ == transport_kind::polling && !closed()) {
        on_transport_closed(close_reason::transport_error); // P8
    }
}

bool session::on_post(std::string_view body) {
    for (auto part : split_payload(body)) {
        if (closed()) {
            return false;
        }
        thread_local std::string scratch; // the shard's: a POST is decoded before anything else runs
        auto p = decode_text(part, scratch);
        if (!p) {
            close(close_reason::parse_error);
            finish();
            return false;
        }
        if (p->type == packet_type::close) {
            // P9: the pending GET (or one still on its way) is answered with a noop, then
            // the session ends.
            noop_next_ = true;
            close(close_reason::transport_close);
            return false;
        }
        on_packet(*p);
    }
    return !closed();
}

void session::take_queue(std::vector<wire_ptr>& out) {
    if (out.empty()) {
        out.swap(queue_); // the common case: no copy, and both keep their capacity
    } else {
        for (auto& p : queue_) {
            out.push_back(std::move(p));
        }
        queue_.clear();
    }
    queue_taken();
    in_flight_bytes_ += queued_bytes_;
    queued_bytes_ = 0;
}

void session::on_written(std::size_t bytes) {
    in_flight_bytes_ = bytes > in_flight_bytes_ ? 0 : in_flight_bytes_ - bytes;
}

void session::detach_websocket(transport_link* link) {
    if (ws_link_ != link) {
        return;
    }
    ws_link_ = nullptr;
    on_transport_closed(close_reason::transport_close);
}

bool session::begin_upgrade(transport_link* probe) {
    if (closed() || kind_ != transport_kind::polling || probe_link_ != nullptr) {
        return false;
    }
    probe_link_ = probe;
    timers_.arm(upgrade_or_linger_, options_->upgrade_timeout);
    return true;
}

session::probe_action session::on_probe_packet(const packet& p) {
    if (p.type == packet_type::ping && p.data == "probe" && !p.binary) {
        probed_ = true;
        if (poll_link_ != nullptr) {
            poll_link_->wake(); // U3: answered with a noop
        }
        return probe_action::reply_probe;
    }
    if (p.type == packet_type::upgrade && !closed()) {
        // U4: the WebSocket becomes the session's transport; the queue moves over.
        kind_ = transport_kind::websocket;
        if (counted_) {
            options_->stats->polling_sessions.fetch_sub(1, std::memory_order_relaxed);
            options_->stats->websocket_sessions.fetch_add(1, std::memory_order_relaxed);
        }
        ws_link_ = std::exchange(probe_link_, nullptr);
        timers_.disarm(upgrade_or_linger_);
        if (poll_link_ != nullptr) {
            poll_link_->wake(); // its answer is a noop
        }
        ws_link_->wake();
        return probe_action::upgraded;
    }
    return probe_action::abort; // U5
}

void session::abort_upgrade(transport_link* probe) {
    if (probe_link_ != probe) {
        return;
    }
    probe_link_ = nullptr;
    probed_ = false;
    timers_.disarm(upgrade_or_linger_);
    if (poll_link_ != nullptr) {
        poll_link_->wake();
    }
}

} // namespace kamea::engineio
