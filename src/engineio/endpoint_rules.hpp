#pragma once
// The Engine.IO endpoint's rules (protocol.md E3-E5, E8, P11, U1, U7, W1, H2, H6) as a pure
// function: the facts of one HTTP request go in, the decision comes out. The transport
// gathers the facts (it parses HTTP and looks the sid up) and executes the decision; it
// decides nothing about Engine.IO itself. Tested case by case in endpoint_rules_test.cpp.

#include "engineio/session.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kamea::engineio {

// E4: the codes of the reference.
enum class error_code : std::uint8_t {
    transport_unknown = 0,
    unknown_sid = 1,
    bad_handshake_method = 2,
    bad_request = 3,
    forbidden = 4,
    unsupported_protocol_version = 5,
};

// An answer that refuses a request: E4's code and message, and the HTTP status it goes with.
struct endpoint_error {
    error_code code;
    std::string_view message;
    unsigned http_status;

    friend bool operator==(const endpoint_error&, const endpoint_error&) = default;
};

inline constexpr endpoint_error transport_unknown{error_code::transport_unknown, "Transport unknown", 400};
inline constexpr endpoint_error unknown_sid{error_code::unknown_sid, "Session ID unknown", 400};
inline constexpr endpoint_error bad_handshake_method{error_code::bad_handshake_method, "Bad handshake method", 400};
inline constexpr endpoint_error bad_request{error_code::bad_request, "Bad request", 400};
inline constexpr endpoint_error shutting_down{error_code::forbidden, "Server is shutting down", 403};
inline constexpr endpoint_error too_many_polling_sessions{error_code::forbidden,
                                                          "Too many polling sessions from this address", 429};
inline constexpr endpoint_error unsupported_version{error_code::unsupported_protocol_version,
                                                    "Unsupported protocol version", 400};
// P5: a POST body past maxPayload.
inline constexpr endpoint_error payload_too_large{error_code::bad_request, "Payload too large", 413};

// E4's body: {"code":N,"message":"..."}.
std::string to_json(const endpoint_error& e);

enum class http_method : std::uint8_t { get, post, options, other };

// The session a request's sid names, as plain facts.
struct session_facts {
    transport_kind transport = transport_kind::polling;
    bool upgrading = false; // a probe WebSocket is pending
    bool closed = false;
};

struct endpoint_request {
    http_method method = http_method::get;
    // Query parameters (E2); empty when absent.
    std::string_view eio;
    std::string_view transport;
    std::string_view sid;
    bool upgrade = false;             // a WebSocket upgrade request (Connection + Upgrade headers)
    std::string_view websocket_error; // why the upgrade is not valid RFC 6455; empty if it is
    bool origin_valid = true;         // H6
    bool preflight = false;           // has Access-Control-Request-Method (H2)
    bool cors_enabled = false;        // --cors-origins is set
    bool stopping = false;            // the server is draining: no new sessions
    // The session `sid` names; nullopt when there is none (or no sid was given).
    std::optional<session_facts> session;
};

enum class endpoint_action : std::uint8_t {
    preflight,           // H2: 204 with the CORS preflight headers
    handshake_polling,   // E8: a new polling session, its open packet in the answer
    handshake_websocket, // W1: a new session on this WebSocket
    poll_get,            // P1 on the named session
    poll_post,           // P2 on the named session
    upgrade,             // U1: this WebSocket probes the named session's upgrade
    accept_and_close,    // U7: 101, then a close frame at once
    unsupported_method,  // P11: 500 with an empty body
    reject,              // E4: `error` as JSON with its HTTP status
    refuse_upgrade,      // E5: a raw 400 with `error.message` as text, then close (no 101)
};

struct endpoint_decision {
    endpoint_action action;
    // For reject and refuse_upgrade. A refused upgrade's message may view the request's
    // `websocket_error`.
    endpoint_error error{};

    friend bool operator==(const endpoint_decision&, const endpoint_decision&) = default;
};

// First failure wins, in the reference's order (E3).
endpoint_decision decide(const endpoint_request& r);

} // namespace kamea::engineio
