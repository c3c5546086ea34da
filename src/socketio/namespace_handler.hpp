#pragma once
// What the application provides for one namespace (contract section 1: adding a data type
// is adding a handler). Called on the shard thread that owns the socket.

#include "socketio/socket.hpp"

#include <boost/json/object.hpp>

#include <optional>
#include <string>

namespace kamea::socketio {

class namespace_handler {
public:
    virtual ~namespace_handler() = default;
    // A CONNECT for this namespace. nullopt accepts; otherwise the CONNECT_ERROR payload,
    // a JSON object text such as {"message":"..."} (S8).
    virtual std::optional<std::string> on_connect(socket& s, const boost::json::object& auth) = 0;
    // After the CONNECT reply was queued.
    virtual void on_connected(socket&) {}
    virtual void on_event(socket& s, const event& e) = 0;
    // The socket is gone (client or server disconnect, or the session closed); its rooms are
    // left right after this returns.
    virtual void on_disconnect(socket&, std::string_view /*reason*/) {}
};

} // namespace kamea::socketio
