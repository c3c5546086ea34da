#pragma once
// The telemetry subscriptions of one shard (contract section 4): `telemetries` and
// `telemetries:unsubscribe` events, validation, authorization through the Management API,
// rooms, acks, and periodic re-authorization. Shard-local; the authorizer answers on this
// shard.

#include "app/authorization/authorizer.hpp"
#include "socketio/socket.hpp"

#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace kamea::app::telemetry {

struct subscription_options {
    std::size_t max_per_socket = 100;
    std::chrono::seconds reauth_interval{300}; // 0 = off
};

// What a /devices socket holds (see devices_namespace).
struct subscription {
    std::string device_id;
    std::string tenant_id;
    std::chrono::steady_clock::time_point authorized_at;
    bool checking = false;
};

struct socket_state {
    std::string token; // a secret: never logged
    std::vector<subscription> subscriptions;
    std::size_t pending = 0;      // subscribe requests waiting for the Management API
    std::uint64_t next_request = 0;
    std::unordered_map<std::string, std::uint64_t> unsubscribed_at; // device -> request number
};

class subscriptions {
public:
    subscriptions(boost::asio::any_io_executor ex,
                  const authorization::authorizer& authz,
                  subscription_options options);
    ~subscriptions();

    void subscribe(socketio::socket& s, const socketio::event& e);
    void unsubscribe(socketio::socket& s, const socketio::event& e);
    void forget(socketio::socket& s);

private:
    void reauthorize();
    void deny(socketio::socket& s,
              const std::string& device,
              const std::string& tenant,
              const std::string& message,
              std::optional<std::uint64_t> ack_id);

    boost::asio::any_io_executor ex_;
    const authorization::authorizer& authz_;
    subscription_options options_;
    boost::asio::steady_timer reauth_timer_;
    std::unordered_map<socketio::socket*, std::weak_ptr<socketio::socket>> subscribed_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

socket_state& state_of(socketio::socket& s);

// Live subscriptions in the process, for /metrics.
std::atomic<std::int64_t>& subscription_gauge();

} // namespace kamea::app::telemetry
