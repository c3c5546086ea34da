#pragma once
// One client's presence in one namespace (protocol.md S9): its id, rooms and acks.
// Shard-local, owned by its connection.

#include "engineio/session.hpp"
#include "socketio/packet.hpp"

#include <boost/json/array.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace kamea::socketio {

class connection;
class rooms;
struct room;

// An event as the namespace handler sees it.
struct event {
    std::string_view name;
    std::string_view args;         // raw JSON of the arguments after the name ("" if none)
    const boost::json::array& all; // the parsed array, name included
    const std::vector<std::string>& attachments;
    std::optional<std::uint64_t> ack_id;
};

class socket : public std::enable_shared_from_this<socket> {
public:
    // The client's ACK: its arguments as a raw JSON array, and any binary attachments.
    using ack_callback =
        std::function<void(std::string_view args_array_json, const std::vector<std::string>& attachments)>;

    socket(connection& conn, std::string nsp, std::string id);
    ~socket();
    socket(const socket&) = delete;
    socket& operator=(const socket&) = delete;

    const std::string& id() const { return id_; }
    const std::string& nsp() const { return nsp_; }
    engineio::session& session();
    bool connected() const { return connected_; }

    // Server -> client.
    void emit(std::string_view event, std::string_view args);
    void emit(std::string_view event, std::string_view args, const std::vector<std::string>& attachments,
              ack_callback on_ack = {});
    void ack(std::uint64_t id, std::string_view args, const std::vector<std::string>& attachments = {});
    void send(const engineio::wire_ptr& p);

    // Rooms (server-internal, S20).
    void join(const std::string& room);
    void leave(const std::string& room);
    bool in_room(const std::string& room) const;

    // Server-side disconnect (S12): DISCONNECT for this namespace; with `close_session`,
    // every namespace of the connection is disconnected and the Engine.IO session closed.
    void disconnect(bool close_session = false);

    // Application data (e.g. the bearer token); opaque to this layer.
    std::shared_ptr<void> data;

private:
    friend class connection;
    friend class connect_reply;
    friend class rooms;
    void on_ack(std::uint64_t id, std::string_view args_array_json, const std::vector<std::string>& attachments);

    struct room_slot {
        room* r;
        std::size_t index; // position of this socket in r->members
    };

    connection& conn_;
    std::string nsp_;
    std::string id_;
    bool connected_ = false;
    std::vector<room_slot> rooms_;
    std::uint64_t next_ack_id_ = 0;
    // Made on the first emit that asks for an ack: most sockets never do.
    std::unique_ptr<std::unordered_map<std::uint64_t, ack_callback>> pending_acks_;
};

} // namespace kamea::socketio
