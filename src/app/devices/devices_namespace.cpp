#include "app/devices/devices_namespace.hpp"

#include "app/telemetry/subscriptions.hpp"
#include "core/log.hpp"

namespace kamea::app {
namespace {

std::string_view strip_bearer(std::string_view v) {
    while (!v.empty() && v.front() == ' ') {
        v.remove_prefix(1);
    }
    if (v.size() >= 7 && (v.substr(0, 7) == "Bearer " || v.substr(0, 7) == "bearer ")) {
        v.remove_prefix(7);
    }
    while (!v.empty() && v.front() == ' ') {
        v.remove_prefix(1);
    }
    while (!v.empty() && v.back() == ' ') {
        v.remove_suffix(1);
    }
    return v;
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

std::optional<std::string> devices_namespace::on_connect(socketio::socket& s, const boost::json::object& auth) {
    auto token = bearer_token(auth, s.session().handshake().authorization);
    if (!token) {
        core::log::info("connect_refused", {{"session", s.session().sid().substr(0, 6)}, {"reason", "missing token"}});
        return R"({"message":"Unauthorized: missing bearer token"})";
    }
    auto state = std::make_shared<telemetry::socket_state>();
    state->token = std::move(*token);
    s.data = std::move(state);
    core::log::debug("socket_connected", {{"sid", s.session().sid()}, {"socket", s.id()}});
    return std::nullopt;
}

void devices_namespace::on_event(socketio::socket& s, const socketio::event& e) {
    if (e.name == "telemetries") {
        telemetries_.subscribe(s, e);
    } else if (e.name == "telemetries:unsubscribe") {
        telemetries_.unsubscribe(s, e);
    }
    // Other events are ignored, as a Socket.IO server without a listener for them does.
}

void devices_namespace::on_disconnect(socketio::socket& s, std::string_view reason) {
    telemetries_.forget(s);
    core::log::debug("socket_disconnected", {{"socket", s.id()}, {"reason", reason}});
}

} // namespace kamea::app
