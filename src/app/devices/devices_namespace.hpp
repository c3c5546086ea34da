#pragma once
// The /devices namespace (contract section 3): the connect-time token rule, `auth:refresh`
// (a new token for a connected socket), and the events of each data type routed to its
// handler (today: telemetries). Adding a data type is adding a handler and its events here.

#include "app/devices/event_rate.hpp"
#include "socketio/namespace_handler.hpp"

#include <memory>
#include <optional>
#include <string>

namespace kamea::app {

inline constexpr std::string_view devices_namespace_name = "/devices";
// A token is sent in every Management API request's Authorization header: bounded.
inline constexpr std::size_t max_token_length = 8192;

// The bearer token of a CONNECT: auth.token (with or without "Bearer "), else the
// handshake's "Authorization: Bearer <t>" header. nullopt when there is none.
std::optional<std::string> bearer_token(const boost::json::object& auth, std::string_view authorization_header);

namespace telemetry {
class subscriptions;
}

class devices_namespace : public socketio::namespace_handler {
public:
    devices_namespace(telemetry::subscriptions& telemetries, event_rate_options rate,
                      std::shared_ptr<event_rate_counters> rate_counters)
        : telemetries_(telemetries), rate_options_(rate), rate_counters_(std::move(rate_counters)) {}
    void on_connect(socketio::socket& s, const boost::json::object& auth, socketio::connect_reply reply) override;
    void on_connected(socketio::socket& s) override;
    void on_event(socketio::socket& s, const socketio::event& e) override;
    void on_disconnect(socketio::socket& s, std::string_view reason) override;

private:
    // Whether event `e` is within the socket's rate; refuses it (and may disconnect) if not.
    bool within_rate(socketio::socket& s, const socketio::event& e);
    void refresh(socketio::socket& s, const socketio::event& e);

    telemetry::subscriptions& telemetries_;
    event_rate_options rate_options_;
    std::shared_ptr<event_rate_counters> rate_counters_;
};

} // namespace kamea::app
