#pragma once
// TEST ONLY (--conformance, protocol.md K7): what the official engine.io-protocol and
// socket.io-protocol test suites expect of the server, plus a server-to-client ack probe
// used by the interop tests. Never registered unless the flag is given.

#include "engineio/session.hpp"
#include "socketio/namespace_handler.hpp"

#include <memory>

namespace kamea::app {

// Namespaces "/" and "/custom": emit "auth" with the CONNECT payload on connect,
// "message" -> "message-back" with the same arguments, "message-with-ack" acked with its
// arguments, "request-ack" -> the server emits "ack-me" with an ack and reports the client's
// answer as "ack-result".
class conformance_namespace : public socketio::namespace_handler {
public:
    void on_connect(socketio::socket& s, const boost::json::object& auth, socketio::connect_reply reply) override;
    void on_connected(socketio::socket& s) override;
    void on_event(socketio::socket& s, const socketio::event& e) override;
};

// The raw Engine.IO echo at /engine.io/: every message comes back as it was sent.
std::unique_ptr<engineio::session_handler> make_engineio_echo(engineio::session& s);

} // namespace kamea::app
