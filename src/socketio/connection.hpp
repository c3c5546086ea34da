#pragma once
// The Socket.IO side of one Engine.IO session: decodes packets, reassembles binary
// attachments (S15/S16), multiplexes namespaces (S9) and enforces the state rules (S10).

#include "engineio/session.hpp"
#include "socketio/error.hpp"
#include "socketio/namespace_handler.hpp"
#include "socketio/packet.hpp"
#include "socketio/socket.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace kamea::socketio {

class server;

class connection final : public engineio::session_handler, private engineio::deadline_owner {
public:
    connection(server& srv, engineio::session& s);
    ~connection() override;

    void on_message(std::string_view data, bool binary) override;
    void before_close(engineio::close_reason reason) override;
    void on_close(engineio::close_reason reason) override;

    engineio::session& session() { return session_; }
    socketio::server& owner() { return server_; }

    // Called by socket::disconnect.
    void disconnect(socket& target, bool close_session);
    // Called by connect_reply: the answer to a CONNECT still waiting for it.
    void finish_connect(const std::shared_ptr<socket>& s, const connect_accept* accepted, std::string_view refusal);

private:
    void on_deadline(engineio::deadline& d) override; // the connect timeout
    void dispatch(packet& p, const std::vector<std::string>& attachments);
    void on_connect(packet& p);
    std::shared_ptr<socket> find(const std::string& nsp) const;
    void remove(const std::shared_ptr<socket>& s, std::string_view reason);
    void end(socket& s, std::string_view reason);
    void protocol_error(error why);

    socketio::server& server_;
    engineio::session& session_;
    std::vector<std::shared_ptr<socket>> sockets_;
    std::vector<std::shared_ptr<socket>> connecting_; // CONNECTs waiting for their handler's answer
    // S6: armed until the first namespace is joined; disarmed when this is destroyed, so
    // it can never call a connection that is gone.
    engineio::deadline connect_deadline_{*this};

    // A binary packet waiting for its attachments: its text is decoded again once they
    // have all arrived. Made for the first such packet: most connections never send one.
    struct partial_packet {
        std::string text;
        std::size_t expected = 0;
        std::vector<std::string> attachments;
    };
    std::unique_ptr<partial_packet> partial_;
};

} // namespace kamea::socketio
