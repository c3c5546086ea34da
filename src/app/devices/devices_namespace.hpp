#pragma once
// The /devices namespace (contract section 3): the connect-time token rule. Subscriptions
// are added by the telemetry handler (issue 3).

#include "socketio/namespace_handler.hpp"

#include <optional>
#include <string>

namespace kamea::app {

inline constexpr std::string_view devices_namespace_name = "/devices";

// The bearer token of a CONNECT: auth.token (with or without "Bearer "), else the
// handshake's "Authorization: Bearer <t>" header. nullopt when there is none.
std::optional<std::string> bearer_token(const boost::json::object& auth,
                                        std::string_view authorization_header);

// What /devices keeps per socket.
struct device_socket_data {
    std::string token; // a secret: never logged
};

class devices_namespace : public socketio::namespace_handler {
public:
    std::optional<std::string> on_connect(socketio::socket& s, const boost::json::object& auth) override;
    void on_event(socketio::socket& s, const socketio::event& e) override;
};

} // namespace kamea::app
