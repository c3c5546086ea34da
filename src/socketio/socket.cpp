#include "socketio/socket.hpp"

#include "socketio/connection.hpp"
#include "socketio/server.hpp"

namespace kamea::socketio {

socket::socket(connection& conn, std::string nsp, std::string id)
    : conn_(conn), nsp_(std::move(nsp)), id_(std::move(id)) {}

// Whatever path ends a socket, it never stays listed in a room.
socket::~socket() {
    conn_.owner().rooms().leave_all(*this);
}

engineio::session& socket::session() {
    return conn_.session();
}

void socket::send(const engineio::wire_ptr& p) {
    conn_.session().send(p);
}

void socket::emit(std::string_view event, std::string_view args) {
    if (!connected_) {
        return;
    }
    send(make_packet(packet_type::event, nsp_, encode_event_body(event, args)));
}

void socket::emit(std::string_view event, std::string_view args, const std::vector<std::string>& attachments,
                  ack_callback on_ack) {
    if (!connected_) {
        return;
    }
    std::optional<std::uint64_t> id;
    if (on_ack) {
        id = next_ack_id_++;
        if (!pending_acks_) {
            pending_acks_ = std::make_unique<std::unordered_map<std::uint64_t, ack_callback>>();
        }
        pending_acks_->emplace(*id, std::move(on_ack));
    }
    auto type = attachments.empty() ? packet_type::event : packet_type::binary_event;
    send(make_packet(type, nsp_, encode_event_body(event, args), id, attachments.size()));
    for (const auto& a : attachments) {
        send(engineio::make_binary(a));
    }
}

void socket::ack(std::uint64_t id, std::string_view args, const std::vector<std::string>& attachments) {
    if (!connected_) {
        return;
    }
    std::string body = "[";
    body += args;
    body += ']';
    auto type = attachments.empty() ? packet_type::ack : packet_type::binary_ack;
    send(make_packet(type, nsp_, body, id, attachments.size()));
    for (const auto& a : attachments) {
        send(engineio::make_binary(a));
    }
}

void socket::on_ack(std::uint64_t id, std::string_view args_array_json, const std::vector<std::string>& attachments) {
    if (!pending_acks_) {
        return; // unknown ack ids are ignored (S13)
    }
    auto it = pending_acks_->find(id);
    if (it == pending_acks_->end()) {
        return;
    }
    auto cb = std::move(it->second);
    pending_acks_->erase(it);
    cb(args_array_json, attachments);
}

void socket::join(const std::string& room) {
    conn_.owner().rooms().join(*this, room);
}

void socket::leave(const std::string& room) {
    conn_.owner().rooms().leave(*this, room);
}

bool socket::in_room(const std::string& room) const {
    for (const auto& slot : rooms_) {
        if (slot.r->name == room) {
            return true;
        }
    }
    return false;
}

void socket::disconnect(bool close_session) {
    conn_.disconnect(*this, close_session);
}

} // namespace kamea::socketio
