#pragma once
// What the application provides for one namespace (contract section 1: adding a data type
// is adding a handler). Called on the shard thread that owns the socket.

#include "socketio/socket.hpp"

#include <boost/json/object.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace kamea::socketio {

// How a socket is let in: `missed` go out before the CONNECT reply (connection state
// recovery sends what the client missed first, as the reference does), `sid` replaces the
// socket's id (a recovered socket keeps its old one) and `pid` is the recovery session id
// the reply carries next to the sid ("" without recovery).
struct connect_accept {
    std::string sid;
    std::string pid;
    std::vector<engineio::wire_ptr> missed;
};

// The answer to one CONNECT, given once, at once or later (after an asynchronous check), on
// the socket's shard. An answer for a socket whose session closed meanwhile is dropped.
class connect_reply {
public:
    explicit connect_reply(std::weak_ptr<socket> s) : socket_(std::move(s)) {}
    void accept(const connect_accept& a = {}) const;
    // CONNECT_ERROR with `payload`, a JSON object text such as {"message":"..."} (S8).
    void refuse(std::string_view payload) const;

private:
    std::weak_ptr<socket> socket_;
};

// Whether a socket ended for this reason may be recovered (the reference's list: the
// transport was lost, not closed on purpose by either side).
bool is_recoverable(std::string_view reason);

class namespace_handler {
public:
    virtual ~namespace_handler() = default;
    // A CONNECT for this namespace, answered through `reply`. Until then the namespace is
    // not joined (a second CONNECT for it is a protocol error) and emits to the socket are
    // dropped.
    virtual void on_connect(socket& s, const boost::json::object& auth, connect_reply reply) = 0;
    // After the CONNECT reply was queued.
    virtual void on_connected(socket&) {}
    virtual void on_event(socket& s, const event& e) = 0;
    // The socket is gone (client or server disconnect, or the session closed); its rooms are
    // left right after this returns. Not called for a socket that never joined.
    virtual void on_disconnect(socket&, std::string_view /*reason*/) {}
};

} // namespace kamea::socketio
