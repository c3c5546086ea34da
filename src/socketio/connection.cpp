#include "socketio/connection.hpp"

#include "core/log.hpp"
#include "core/random_id.hpp"
#include "socketio/counters.hpp"
#include "socketio/namespace_handler.hpp"
#include "socketio/server.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>

namespace kamea::socketio {

void server::on_socket_count(int delta) {
    sockets_ = static_cast<std::size_t>(static_cast<long long>(sockets_) + delta);
    options_.stats->sockets.fetch_add(delta, std::memory_order_relaxed);
}

std::unique_ptr<engineio::session_handler> server::make_connection(engineio::session& s) {
    return std::make_unique<connection>(*this, s);
}

connection::connection(socketio::server& srv, engineio::session& s) : server_(srv), session_(s) {
    session_.timers().arm(connect_deadline_, srv.options().connect_timeout);
}

connection::~connection() {
    session_.timers().disarm(connect_deadline_);
}

void connection::on_deadline(engineio::deadline&) {
    // S6: a client that joins no namespace in time is cut off.
    if (sockets_.empty()) {
        auto keep = session_.shared_from_this(); // the close may release the session, and this
        session_.close(engineio::close_reason::server_close);
    }
}

void connection::protocol_error(error why) {
    core::log::debug("socketio_protocol_error",
                     {{"conn", session_.number()}, {"reason", make_error_code(why).message()}});
    session_.close(engineio::close_reason::parse_error);
}

void connection::on_message(std::string_view data, bool binary) {
    bool waiting = partial_ && partial_->expected != 0;
    if (binary) {
        if (!waiting) {
            protocol_error(error::binary_without_header);
            return;
        }
        partial_->attachments.emplace_back(data);
        if (partial_->attachments.size() < partial_->expected) {
            return;
        }
        partial_->expected = 0;
        auto text = std::move(partial_->text);
        auto attachments = std::move(partial_->attachments);
        partial_->attachments.clear();
        auto r = decode(text);
        dispatch(*r.value, attachments); // decoded successfully the first time
        return;
    }
    if (waiting) {
        protocol_error(error::text_during_attachments);
        return;
    }
    auto r = decode(data);
    if (!r.value) {
        protocol_error(r.error);
        return;
    }
    if (r.value->attachments > 0) {
        if (!placeholders_valid(r.value->value, r.value->attachments)) {
            protocol_error(error::bad_placeholders);
            return;
        }
        if (!partial_) {
            partial_ = std::make_unique<partial_packet>();
        }
        partial_->expected = r.value->attachments;
        partial_->text.assign(data);
        return;
    }
    static const std::vector<std::string> none;
    dispatch(*r.value, none);
}

std::shared_ptr<socket> connection::find(const std::string& nsp) const {
    for (const auto& s : sockets_) {
        if (s->nsp() == nsp) {
            return s;
        }
    }
    return nullptr;
}

void connection::dispatch(packet& p, const std::vector<std::string>& attachments) {
    if (p.type == packet_type::connect) {
        on_connect(p);
        return;
    }
    auto s = find(p.nsp);
    if (!s || p.type == packet_type::connect_error) {
        protocol_error(s ? error::unexpected_packet : error::namespace_not_joined);
        return;
    }
    switch (p.type) {
    case packet_type::disconnect:
        remove(s, "client namespace disconnect");
        return;
    case packet_type::event:
    case packet_type::binary_event: {
        if (p.type == packet_type::binary_event && !placeholders_valid(p.value, attachments.size())) {
            protocol_error(error::bad_placeholders);
            return;
        }
        const auto& all = p.value.as_array();
        std::string name_storage;
        std::string_view name;
        if (all.front().is_string()) {
            name = all.front().as_string();
        } else {
            name_storage = boost::json::serialize(all.front());
            name = name_storage;
        }
        event e{name, args_after_first(p.json), all, attachments, p.id};
        auto* handler = server_.find_namespace(s->nsp());
        handler->on_event(*s, e);
        return;
    }
    case packet_type::ack:
    case packet_type::binary_ack:
        if (p.id) {
            if (p.type == packet_type::binary_ack && !placeholders_valid(p.value, attachments.size())) {
                protocol_error(error::bad_placeholders);
                return;
            }
            s->on_ack(*p.id, p.json, attachments);
        }
        return;
    default:
        protocol_error(error::unexpected_packet);
        return;
    }
}

void connection::on_connect(packet& p) {
    bool connecting = std::any_of(connecting_.begin(), connecting_.end(),
                                  [&](const std::shared_ptr<socket>& c) { return c->nsp() == p.nsp; });
    if (find(p.nsp) || connecting) {
        protocol_error(error::namespace_already_joined); // S10 (joined, or being joined)
        return;
    }
    auto* handler = server_.find_namespace(p.nsp);
    if (handler == nullptr) {
        session_.send(make_packet(packet_type::connect_error, p.nsp, R"({"message":"Invalid namespace"})"));
        return;
    }
    static const boost::json::object empty_auth;
    const auto& auth = p.value.is_object() ? p.value.as_object() : empty_auth;
    auto s = std::make_shared<socket>(*this, p.nsp, core::random_id());
    connecting_.push_back(s);
    handler->on_connect(*s, auth, connect_reply(s));
}

void connect_reply::accept(const connect_accept& a) const {
    if (auto s = socket_.lock()) {
        s->conn_.finish_connect(s, &a, {});
    }
}

void connect_reply::refuse(std::string_view payload) const {
    if (auto s = socket_.lock()) {
        s->conn_.finish_connect(s, nullptr, payload);
    }
}

bool is_recoverable(std::string_view reason) {
    return reason == engineio::to_string(engineio::close_reason::transport_close) ||
           reason == engineio::to_string(engineio::close_reason::transport_error) ||
           reason == engineio::to_string(engineio::close_reason::ping_timeout);
}

void connection::finish_connect(const std::shared_ptr<socket>& s, const connect_accept* accepted,
                                std::string_view refusal) {
    auto it = std::find(connecting_.begin(), connecting_.end(), s);
    if (it == connecting_.end()) {
        return; // answered already, or the session closed meanwhile
    }
    connecting_.erase(it);
    if (accepted == nullptr) {
        server_.rooms().leave_all(*s);
        session_.send(make_packet(packet_type::connect_error, s->nsp(), refusal));
        return;
    }
    if (!accepted->sid.empty()) {
        s->id_ = accepted->sid;
    }
    for (const auto& missed : accepted->missed) {
        session_.send(missed);
    }
    sockets_.push_back(s);
    s->connected_ = true;
    server_.on_socket_count(+1);
    session_.timers().disarm(connect_deadline_);
    std::string reply = R"({"sid":")" + s->id() + '"';
    if (!accepted->pid.empty()) {
        reply += R"(,"pid":")" + accepted->pid + '"';
    }
    reply += '}';
    session_.send(make_packet(packet_type::connect, s->nsp(), reply));
    if (auto* handler = server_.find_namespace(s->nsp())) {
        handler->on_connected(*s);
    }
}

void connection::remove(const std::shared_ptr<socket>& s, std::string_view reason) {
    auto it = std::find(sockets_.begin(), sockets_.end(), s);
    if (it == sockets_.end()) {
        return;
    }
    sockets_.erase(it);
    end(*s, reason);
}

// A socket leaves for good: its handler is told, then it leaves its rooms.
void connection::end(socket& s, std::string_view reason) {
    s.connected_ = false;
    server_.on_socket_count(-1);
    if (auto* handler = server_.find_namespace(s.nsp())) {
        handler->on_disconnect(s, reason);
    }
    server_.rooms().leave_all(s);
}

void connection::disconnect(socket& target, bool close_session) {
    if (close_session) {
        // S12 "disconnect(true)": before_close sends every namespace its DISCONNECT.
        session_.close(engineio::close_reason::server_close);
        return;
    }
    auto s = find(target.nsp());
    if (!s) {
        return;
    }
    session_.send(make_packet(packet_type::disconnect, s->nsp(), {}));
    remove(s, "server namespace disconnect");
}

void connection::before_close(engineio::close_reason) {
    // A server-side close: DISCONNECT every namespace first so the client reports
    // "io server disconnect" (S12, contract section 10).
    auto all = sockets_;
    for (const auto& s : all) {
        session_.send(make_packet(packet_type::disconnect, s->nsp(), {}));
        remove(s, "server namespace disconnect");
    }
}

void connection::on_close(engineio::close_reason reason) {
    session_.timers().disarm(connect_deadline_);
    connecting_.clear(); // their answers, when they come, find nothing to answer
    auto all = std::move(sockets_);
    sockets_.clear();
    for (const auto& s : all) {
        end(*s, engineio::to_string(reason));
    }
}

} // namespace kamea::socketio
