#include "engineio/endpoint_rules.hpp"

namespace kamea::engineio {

namespace {

endpoint_decision act(endpoint_action a) {
    return {a, {}};
}

endpoint_decision reject(const endpoint_error& e) {
    return {endpoint_action::reject, e};
}

// E5: an upgrade request gets a raw refusal; any other request the JSON answer of E4.
endpoint_decision refuse(const endpoint_request& r, const endpoint_error& e) {
    return {r.upgrade ? endpoint_action::refuse_upgrade : endpoint_action::reject, e};
}

endpoint_decision on_session(const endpoint_request& r, const session_facts& s, bool websocket) {
    if (websocket) {
        // U1: only a valid WebSocket handshake may probe.
        if (!r.upgrade || !r.websocket_error.empty()) {
            return refuse(r, bad_request);
        }
        if (s.transport != transport_kind::polling || s.upgrading || s.closed) {
            return act(endpoint_action::accept_and_close); // U7, as the reference does
        }
        return act(endpoint_action::upgrade);
    }
    if (s.transport != transport_kind::polling) {
        return reject(bad_request); // U7: polling on an upgraded session
    }
    switch (r.method) {
    case http_method::get:
        return act(endpoint_action::poll_get);
    case http_method::post:
        return act(endpoint_action::poll_post);
    default:
        return act(endpoint_action::unsupported_method); // P11
    }
}

} // namespace

std::string to_json(const endpoint_error& e) {
    return "{\"code\":" + std::to_string(static_cast<int>(e.code)) + ",\"message\":\"" + std::string(e.message) + "\"}";
}

endpoint_decision decide(const endpoint_request& r) {
    if (r.method == http_method::options && r.cors_enabled && r.preflight) {
        return act(endpoint_action::preflight);
    }
    bool websocket = r.transport == "websocket";
    if (!websocket && r.transport != "polling") {
        return refuse(r, transport_unknown);
    }
    if (!r.origin_valid) {
        return reject(bad_request); // JSON even on an upgrade request, as the reference
    }
    if (!r.sid.empty()) {
        if (!r.session) {
            return refuse(r, unknown_sid);
        }
        return on_session(r, *r.session, websocket);
    }
    if (r.method != http_method::get) {
        return reject(bad_handshake_method);
    }
    if (websocket && !r.upgrade) {
        return reject(bad_request);
    }
    if (r.eio != "4") {
        return refuse(r, unsupported_version);
    }
    if (websocket && !r.websocket_error.empty()) {
        return {endpoint_action::refuse_upgrade, {error_code::bad_request, r.websocket_error, 400}};
    }
    if (r.stopping) {
        return reject(shutting_down);
    }
    return act(websocket ? endpoint_action::handshake_websocket : endpoint_action::handshake_polling);
}

} // namespace kamea::engineio
