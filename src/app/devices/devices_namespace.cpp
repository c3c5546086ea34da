#include "app/devices/devices_namespace.hpp"

#include "app/authorization/token_expiry.hpp"
#include "app/telemetry/subscriptions.hpp"
#include "core/log.hpp"
#include "core/text.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <chrono>

namespace kamea::app {
namespace {

// What /devices keeps for a socket: the telemetry subscriptions' state, and its event rate
// (set once connected), in the one block the socket's data holds.
struct devices_socket_state : telemetry::socket_state {
    std::optional<event_rate> rate;
};

devices_socket_state& state_of(socketio::socket& s) {
    return static_cast<devices_socket_state&>(telemetry::state_of(s));
}

std::string_view strip_bearer(std::string_view v) {
    v.remove_prefix(std::min(v.find_first_not_of(' '), v.size())); // not the end: "Bearer " stays whole
    if (v.size() >= 7 && (v.substr(0, 7) == "Bearer " || v.substr(0, 7) == "bearer ")) {
        v.remove_prefix(7);
    }
    return core::trim(v, " ");
}

} // namespace

std::optional<std::string> bearer_token(const boost::json::object& auth, std::string_view authorization_header) {
    if (auto* t = auth.if_contains("token"); t != nullptr && t->is_string()) {
        auto token = strip_bearer(t->as_string());
        if (!token.empty()) {
            return std::string(token);
        }
    }
    auto h = authorization_header;
    while (!h.empty() && h.front() == ' ') {
        h.remove_prefix(1);
    }
    if (h.size() > 7 && (h.substr(0, 7) == "Bearer " || h.substr(0, 7) == "bearer ")) {
        auto token = strip_bearer(h);
        if (!token.empty()) {
            return std::string(token);
        }
    }
    return std::nullopt;
}

void devices_namespace::on_connect(socketio::socket& s, const boost::json::object& auth,
                                   socketio::connect_reply reply) {
    auto token = bearer_token(auth, s.session().handshake().authorization);
    if (!token) {
        core::log::info("connect_refused", {{"conn", s.session().number()}, {"reason", "missing token"}});
        reply.refuse(R"({"message":"Unauthorized: missing bearer token"})");
        return;
    }
    if (token->size() > max_token_length) {
        core::log::info("connect_refused", {{"conn", s.session().number()}, {"reason", "token too long"}});
        reply.refuse(R"({"message":"Unauthorized: bearer token too long"})");
        return;
    }
    auto state = std::make_shared<devices_socket_state>();
    state->token = std::move(*token);
    state->token_expires = authorization::token_expiry(state->token);
    s.data = std::shared_ptr<telemetry::socket_state>(std::move(state)); // what telemetry::state_of reads
    telemetries_.connect(s, auth, reply);
}

void devices_namespace::on_connected(socketio::socket& s) {
    state_of(s).rate.emplace(rate_options_, std::chrono::steady_clock::now());
    core::log::debug("socket_connected", {{"conn", s.session().number()}, {"nsp", s.nsp()}});
}

bool devices_namespace::within_rate(socketio::socket& s, const socketio::event& e) {
    auto& rate = state_of(s).rate;
    if (!rate) {
        return true;
    }
    auto verdict = rate->on_event(std::chrono::steady_clock::now());
    if (verdict == event_verdict::accept) {
        return true;
    }
    auto& counters = *rate_counters_;
    counters.refused.fetch_add(1, std::memory_order_relaxed);
    if (verdict == event_verdict::disconnect) {
        counters.disconnects.fetch_add(1, std::memory_order_relaxed);
        core::log::warn("event_rate_disconnect",
                        {{"conn", s.session().number()}, {"rate", rate_options_.rate}, {"burst", rate_options_.burst}});
        s.disconnect(true);
        return false;
    }
    auto message = "too many events: at most " + std::to_string(rate_options_.rate) + " a second";
    boost::json::object body{{"message", message}};
    // Our own event names only: an attacker's name is not echoed.
    if (e.name == "telemetries" || e.name == "telemetries:unsubscribe" || e.name == "auth:refresh") {
        body["event"] = e.name;
    }
    s.emit("bad_request", boost::json::serialize(body));
    if (e.ack_id) {
        s.ack(*e.ack_id, boost::json::serialize(
                             boost::json::object{{"status", "error"}, {"error", "bad_request"}, {"message", message}}));
    }
    return false;
}

void devices_namespace::on_event(socketio::socket& s, const socketio::event& e) {
    if (!within_rate(s, e)) {
        return;
    }
    if (e.name == "telemetries") {
        telemetries_.subscribe(s, e);
    } else if (e.name == "telemetries:unsubscribe") {
        telemetries_.unsubscribe(s, e);
    } else if (e.name == "auth:refresh") {
        refresh(s, e);
    }
    // Other events are ignored, as a Socket.IO server without a listener for them does.
}

// {"token": "..."} (a "Bearer " prefix is accepted, as in the CONNECT auth).
void devices_namespace::refresh(socketio::socket& s, const socketio::event& e) {
    std::optional<std::string> token;
    if (e.all.size() >= 2 && e.all[1].is_object()) {
        token = bearer_token(e.all[1].as_object(), {});
    }
    if (!token || token->size() > max_token_length) {
        std::string message = token ? "token too long (at most " + std::to_string(max_token_length) + " bytes)"
                                    : "payload must be an object with a non-empty string token";
        s.emit("bad_request",
               boost::json::serialize(boost::json::object{{"event", "auth:refresh"}, {"message", message}}));
        if (e.ack_id) {
            s.ack(*e.ack_id, boost::json::serialize(boost::json::object{
                                 {"status", "error"}, {"error", "bad_request"}, {"message", message}}));
        }
        return;
    }
    telemetries_.refresh(s, std::move(*token), e.ack_id);
}

void devices_namespace::on_disconnect(socketio::socket& s, std::string_view reason) {
    telemetries_.forget(s, reason);
    core::log::debug("socket_disconnected", {{"conn", s.session().number()}, {"reason", reason}});
}

} // namespace kamea::app
