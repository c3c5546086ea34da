#pragma once
// The telemetry subscriptions of one shard (contract section 4): `telemetries` and
// `telemetries:unsubscribe` events, validation, authorization through the Management API,
// rooms (one per (tenant, device) pair), the bus's interest in those pairs, acks, periodic
// re-authorization, a re-check when a JWT token expires, and `auth:refresh` (a new token
// without reconnecting). Shard-local; the authorizer answers on this shard.

#include "app/authorization/authorizer.hpp"
#include "app/recovery/recovery.hpp"
#include "app/telemetry/interest.hpp"
#include "app/telemetry/last_values.hpp"
#include "app/telemetry/tenant_counters.hpp"
#include "core/device_key.hpp"
#include "socketio/namespace_handler.hpp"
#include "socketio/socket.hpp"

#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace kamea::app::telemetry {

struct subscription_options {
    std::size_t max_per_socket = 100;
    std::chrono::seconds reauth_interval{300}; // 0 = off
    std::chrono::seconds last_value_ttl{10};
    recovery::context recovery;         // off unless its window is set
    tenant_counters* tenants = nullptr; // per-tenant subscription gauges
};

// What a /devices socket holds (see devices_namespace).
struct subscription {
    core::device_key key;
    std::chrono::steady_clock::time_point authorized_at;
    bool checking = false;
    std::uint64_t since = 0; // this shard's fan-out position when the socket joined the room
};

// A socket's next re-check after its token's expiry (stage: index into the delays).
struct expiry_check {
    std::weak_ptr<socketio::socket> socket;
    std::size_t stage;
};
using expiry_queue = std::multimap<std::chrono::steady_clock::time_point, expiry_check>;

struct socket_state {
    std::string token; // a secret: never logged
    std::string pid;   // its recovery session id (with recovery on)
    // The token's JWT `exp`, if it has one; its re-checks are scheduled with the first
    // subscription. At most one entry per socket in the shard's queue: removed when the socket
    // goes or the token is replaced (so the old token's re-checks go with it, and a long-lived
    // token does not leave an entry behind for every socket that came and went).
    std::optional<std::chrono::system_clock::time_point> token_expires;
    bool expiry_scheduled = false;
    std::optional<expiry_queue::iterator> expiry_entry;
    std::uint64_t refresh_requests = 0; // auth:refresh events so far
    std::uint64_t refresh_applied = 0;  // the request whose token is in force (0: the connect one)
    std::vector<subscription> subscriptions;
    std::size_t pending = 0; // subscribe requests waiting for the Management API
    std::uint64_t next_request = 0;
    // Pair -> the request number at its last unsubscribe, which cancels subscribe requests
    // still waiting for the API. An empty tenant stands for "this device in every tenant".
    // Made on the first unsubscribe.
    std::unique_ptr<std::unordered_map<core::device_key, std::uint64_t, core::device_key_hash>> unsubscribed_at;
};

class subscriptions {
public:
    // `shard`: this shard's index in `newest` (the process-wide last values).
    subscriptions(const boost::asio::any_io_executor& ex, const authorization::authorizer& authz, core::bus& bus,
                  newest_store& newest, std::size_t shard, subscription_options options);
    ~subscriptions();

    // A CONNECT whose token was accepted: answered at once, or, when its auth names a
    // recovery session, once that session's subscriptions were authorized again and what it
    // missed is known (subscriptions_recovery.cpp).
    void connect(socketio::socket& s, const boost::json::object& auth, const socketio::connect_reply& reply);
    void subscribe(socketio::socket& s, const socketio::event& e);
    void unsubscribe(socketio::socket& s, const socketio::event& e);
    // The socket is gone; lost for a recoverable `reason`, it waits for its client to come back.
    void forget(socketio::socket& s, std::string_view reason);
    // `auth:refresh`: `token` replaces the socket's once the API allowed it for every live
    // subscription; acknowledged either way.
    void refresh(socketio::socket& s, std::string token, std::optional<std::uint64_t> ack_id);

private:
    // Connection state recovery (subscriptions_recovery.cpp).
    void persist(socketio::socket& s);
    void recover(const std::shared_ptr<socketio::socket>& s,
                 const std::shared_ptr<recovery::recoverable_session>& session, std::uint64_t after,
                 const socketio::connect_reply& reply, unsigned tries);
    void accept_fresh(socketio::socket& s, const socketio::connect_reply& reply);
    void release_held(const std::vector<core::device_key>& keys);

    void reauthorize();
    // Checks the socket's subscriptions again: all of them, or only those older than the
    // re-authorization interval. A denial cuts the socket with `denial` as the message.
    void recheck(const std::shared_ptr<socketio::socket>& sock, bool all, std::string_view denial);
    void schedule_expiry(socketio::socket& s, std::size_t stage);
    void unschedule_expiry(socket_state& st);
    void arm_expiry_timer();
    void on_expiry_timer();
    void add(socketio::socket& s, const core::device_key& key, std::optional<std::uint64_t> ack_id, bool want_last);
    // The socket's subscription of `key` ends here (unsubscribed, refused or disconnected).
    void drop(socketio::socket& s, const core::device_key& key);
    // A subscription of `key` starts (+1) or ends (-1), for the gauges.
    void count(const core::device_key& key, int delta);
    void arm_last_value_timer();
    void on_last_value_timer();
    void deny(socketio::socket& s, const core::device_key& key, const std::string& message,
              std::optional<std::uint64_t> ack_id);

    boost::asio::any_io_executor ex_;
    const authorization::authorizer& authz_;
    subscription_options options_;
    interest interest_;
    boost::asio::steady_timer reauth_timer_;
    boost::asio::steady_timer expiry_timer_;
    last_values last_;
    boost::asio::steady_timer last_value_timer_;
    std::optional<std::chrono::steady_clock::time_point> last_value_armed_;
    expiry_queue expiries_;
    std::unordered_map<socketio::socket*, std::weak_ptr<socketio::socket>> subscribed_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

socket_state& state_of(socketio::socket& s);

// Live subscriptions in the process, for /metrics.
std::atomic<std::int64_t>& subscription_gauge();

} // namespace kamea::app::telemetry
