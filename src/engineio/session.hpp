#pragma once
// One Engine.IO v4 session (protocol.md E8-E17, P*, U*): the outbound queue, heartbeat,
// polling GET/POST rules, the upgrade to WebSocket, and close.
//
// Thread safety: a session belongs to one shard (one io_context thread). Every call happens
// on that thread; transports from other shards migrate there first (transport/README.md).

#include "engineio/counters.hpp"
#include "engineio/packet.hpp"
#include "engineio/session_timers.hpp"

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace kamea::engineio {

enum class transport_kind : std::uint8_t { polling, websocket };

enum class close_reason : std::uint8_t {
    transport_close, // the client closed its connection or sent a close packet
    transport_error, // a pending request was cut off, a write failed
    ping_timeout,
    parse_error,  // invalid Engine.IO packet (E7, W8) or protocol violation above
    server_close, // the application closed the session
    slow_client,  // the send queue passed --max-send-queue
    shutdown,     // SIGTERM
};
const char* to_string(close_reason r);

// What a transport connection offers the session: a way to say "look at me again".
// The link's coroutine then reads the session's state (queue, closed, upgrade).
class transport_link {
public:
    virtual ~transport_link() = default;
    virtual void wake() = 0;
};

// The most packets one polling response carries (P1). The reference sends its whole buffer,
// but python-engineio (3.10 and later; 4.3 in Debian 12, under python3-socketio) refuses a
// payload of more than 16 packets and drops the session ("Too many packets in payload"), so
// a burst goes out in slices of 16 and the client's next GET, sent as soon as it has read a
// response, takes the next one. Tested in tests/interop/python-client.test.mjs.
constexpr std::size_t max_packets_per_poll = 16;

struct session_options {
    std::chrono::milliseconds ping_interval{25000};
    std::chrono::milliseconds ping_timeout{20000};
    std::chrono::milliseconds upgrade_timeout{10000};
    std::size_t max_payload = 1000000;
    std::size_t max_send_queue = std::size_t{4} * 1024 * 1024;
    // Past this many bytes queued or in flight (0 = off), while the client is not taking them,
    // a packet with a conflate_key replaces the queued one of the same key instead of joining
    // the queue.
    std::size_t conflate_after = 0;
    // Where the sessions count what /metrics shows.
    std::shared_ptr<counters> stats = std::make_shared<counters>();
};

// Data of the first HTTP request, kept for the upper layers (protocol.md S18): what they
// read. The query is not kept: nothing above reads it, and each session would hold a copy.
struct handshake_info {
    std::string remote_address;
    std::string authorization; // the Authorization header, if any (a secret: never logged)
};

class session;

// The layer above (Socket.IO, or the raw echo of conformance mode).
class session_handler {
public:
    virtual ~session_handler() = default;
    virtual void on_message(std::string_view data, bool binary) = 0;
    // A server-side close is about to happen: last chance to queue goodbye packets.
    virtual void before_close(close_reason) {}
    virtual void on_close(close_reason reason) = 0;
};

// Its deadlines (the heartbeat's next ping or pong, the upgrade's or the linger's end) are
// kept by the shard's session_timers, which calls on_deadline when one is due.
class session final : public std::enable_shared_from_this<session>, private deadline_owner {
public:
    // `options`: the server's, shared by all its sessions.
    session(const boost::asio::io_context::executor_type& ex, session_timers& timers, std::string sid,
            transport_kind kind, std::shared_ptr<const session_options> options, handshake_info handshake);
    ~session();
    session(const session&) = delete;
    session& operator=(const session&) = delete;

    void set_handler(std::unique_ptr<session_handler> h) { handler_ = std::move(h); }
    // Called by the registry when the session is gone for good.
    void set_on_finished(std::function<void(const std::string&)> f) { on_finished_ = std::move(f); }
    // Something released when the session finishes (or is destroyed unfinished), such as its
    // place in a per-address count.
    void hold_until_finished(std::shared_ptr<void> held) { held_ = std::move(held); }

    const std::string& sid() const { return sid_; }
    // The session's number in this process (1, 2, ...): the `conn` of every log line about it.
    // Logs carry it instead of the sid, which is a polling credential.
    std::uint64_t number() const { return number_; }
    transport_kind transport() const { return kind_; }
    const handshake_info& handshake() const { return handshake_; }
    const session_options& options() const { return *options_; }
    // The shard's deadlines, for the layers above (Socket.IO's connect timeout).
    session_timers& timers() { return timers_; }
    bool closed() const { return phase_ != phase::open; }

    // P7: one POST at a time. False while another POST's body is still arriving.
    bool begin_post() { return !std::exchange(post_in_flight_, true); }
    void end_post() { post_in_flight_ = false; }
    close_reason reason() const { return reason_; }

    // The open packet (E8): sent first on either transport; starts the heartbeat.
    void open();

    // ---- outbound ----
    // Queues a packet. Past --conflate-after a keyed packet replaces the queued one of its key;
    // past --max-send-queue the session is closed as a slow client.
    void send(wire_ptr p);
    // Server-side close (E17): what is queued is still written, then the transport closes.
    void close(close_reason reason);

    // ---- inbound, from any transport ----
    // Handles one decoded packet from the active transport; a protocol violation closes the
    // session.
    void on_packet(const packet& p);
    // The active transport failed or was closed by the peer.
    void on_transport_closed(close_reason reason);

    // ---- polling (P*) ----
    enum class poll_result { ok, duplicate, wrong_transport };
    // A GET arrived: `link` is woken when there is something to answer.
    poll_result attach_poll(transport_link* link);
    // True when the pending GET should be answered now.
    bool poll_ready() const;
    // Builds the GET response body and detaches the GET; adds the ingestion stamps of the
    // packets it carries (those that have one) to `stamps`, if given.
    std::string take_poll_payload(std::vector<std::int64_t>* stamps = nullptr);
    // The pending GET's connection went away before it was answered (P8).
    void detach_poll(transport_link* link);
    // A POST body (P2). Returns false if the session was closed by it.
    bool on_post(std::string_view body);

    // ---- WebSocket (W*) ----
    // The active WebSocket's writer takes everything queued.
    void take_queue(std::vector<wire_ptr>& out);
    bool has_queued() const { return !queue_.empty(); }
    std::size_t queued_bytes() const { return queued_bytes_; }
    void attach_websocket(transport_link* link) { ws_link_ = link; }
    void detach_websocket(transport_link* link);
    // Bytes handed to the writer but not yet written count towards the queue limit.
    void on_written(std::size_t bytes);

    // ---- upgrade (U*) ----
    // A WebSocket with this sid arrived; false if it must be refused (U1).
    bool begin_upgrade(transport_link* probe);
    // A packet on the probe WebSocket. Returns what the probe must do.
    enum class probe_action { reply_probe, upgraded, abort };
    probe_action on_probe_packet(const packet& p);
    void abort_upgrade(transport_link* probe);
    bool upgrading() const { return probe_link_ != nullptr; }
    bool is_probe(const transport_link* link) const { return probe_link_ == link; }
    bool is_active(const transport_link* link) const { return ws_link_ == link; }

private:
    void on_deadline(deadline& d) override;
    void on_heartbeat_due();
    void on_upgrade_timeout();
    void finish();
    void wake_active();
    // Past conflate_after with `more` bytes, while the transport is not taking what is queued.
    bool lagging(std::size_t more) const;
    // Replaces the queued packet of p's key with p, if there is one (true).
    bool conflate(wire_ptr& p);
    // The queue was emptied or cut: positions are void.
    void queue_taken();

    boost::asio::io_context::executor_type ex_; // the shard's loop (posts a slow client's close)
    session_timers& timers_;
    std::string sid_;
    std::uint64_t number_;
    transport_kind kind_;
    std::shared_ptr<const session_options> options_;
    handshake_info handshake_;
    std::unique_ptr<session_handler> handler_;
    std::function<void(const std::string&)> on_finished_;
    std::shared_ptr<void> held_;

    std::vector<wire_ptr> queue_; // only appended and taken whole: no deque needed
    std::size_t queued_bytes_ = 0;
    // Position in queue_ of each conflate_key (viewing the queued packet's own key), built
    // when the session first lags past conflate_after and dropped whenever the queue is
    // taken: a session that keeps up never has one.
    std::unique_ptr<std::unordered_map<std::string_view, std::size_t>> conflatable_;
    bool conflating_ = false;
    std::size_t in_flight_bytes_ = 0;

    deadline heartbeat_{*this}; // the next ping, or the pong's
    bool awaiting_pong_ = false;

    transport_link* poll_link_ = nullptr;
    transport_link* ws_link_ = nullptr;
    transport_link* probe_link_ = nullptr;
    // While upgrading: the probe's time limit (U6). Once closed: how long the close waits for
    // a GET to take it (P10). Never both: a closed session cannot begin an upgrade.
    deadline upgrade_or_linger_{*this};
    bool probed_ = false;
    bool noop_next_ = false; // answer the pending GET with a noop (P9)
    bool post_in_flight_ = false;

    // open -> closed (close(): no more packets in or out, but what is queued, the close packet
    // included, may still be on its way) -> finished (finish(): gone from the registry, the
    // sid unknown from now on). Never back.
    enum class phase : std::uint8_t { open, closed, finished };
    phase phase_ = phase::open;
    bool overflowed_ = false; // past --max-send-queue: the close is posted, nothing more queued
    bool counted_ = false;    // in the polling/websocket gauges
    close_reason reason_ = close_reason::server_close;
};

} // namespace kamea::engineio
