// The Engine.IO endpoint's rules, table-driven with no sockets (style.md section 10): each case
// is the facts of one request and the decision the server takes on it today (protocol.md E3,
// E4, E5, E8, H2, H6, P11, U1, U7, W1). Cases that pit two rules against each other pin the
// order of E3: the first failure wins.
#include "engineio/endpoint_rules.hpp"

#include <gtest/gtest.h>

#include <ostream>

// Each case names only the facts it sets; designated initializers leave the rest at their
// defaults on purpose, which GCC's -Wextra would report.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

using namespace kamea::engineio;

namespace kamea::engineio {

// Readable failures: the action's name and the error.
void PrintTo(const endpoint_decision& d, std::ostream* os) {
    static constexpr const char* names[] = {
        "preflight", "handshake_polling", "handshake_websocket", "poll_get", "poll_post",
        "upgrade",   "accept_and_close",  "unsupported_method",  "reject",   "refuse_upgrade"};
    *os << names[static_cast<int>(d.action)];
    if (d.action == endpoint_action::reject || d.action == endpoint_action::refuse_upgrade) {
        *os << " {" << static_cast<int>(d.error.code) << ", \"" << d.error.message << "\", " << d.error.http_status
            << "}";
    }
}

} // namespace kamea::engineio

namespace {

struct rule_case {
    const char* name;
    endpoint_request request;
    endpoint_decision expected;
};

void PrintTo(const rule_case& c, std::ostream* os) {
    *os << c.name;
}

constexpr http_method get = http_method::get;
constexpr http_method post = http_method::post;
constexpr http_method options = http_method::options;
constexpr http_method put = http_method::other;

constexpr std::string_view bad_key = "Missing or invalid Sec-WebSocket-Key header";

const session_facts polling_session{transport_kind::polling, false, false};
const session_facts upgrading_session{transport_kind::polling, true, false};
const session_facts closed_session{transport_kind::polling, false, true};
const session_facts upgraded_session{transport_kind::websocket, false, false};

endpoint_decision act(endpoint_action a) {
    return {a, {}};
}
endpoint_decision reject(const endpoint_error& e) {
    return {endpoint_action::reject, e};
}
endpoint_decision refuse(const endpoint_error& e) {
    return {endpoint_action::refuse_upgrade, e};
}

// clang-format off
const rule_case cases[] = {
    // Handshakes that pass every rule (E8, W1).
    {"polling_handshake", {.method = get, .eio = "4", .transport = "polling"},
     act(endpoint_action::handshake_polling)},
    {"websocket_handshake", {.method = get, .eio = "4", .transport = "websocket", .upgrade = true},
     act(endpoint_action::handshake_websocket)},
    {"polling_with_upgrade_headers_is_a_polling_handshake",
     {.method = get, .eio = "4", .transport = "polling", .upgrade = true},
     act(endpoint_action::handshake_polling)},

    // H2: a preflight is answered only when CORS is configured, before any other rule.
    {"preflight_with_cors",
     {.method = options, .transport = "", .preflight = true, .cors_enabled = true},
     act(endpoint_action::preflight)},
    {"preflight_on_a_session_with_cors",
     {.method = options, .transport = "polling", .sid = "s", .preflight = true, .cors_enabled = true,
      .session = polling_session},
     act(endpoint_action::preflight)},
    {"preflight_without_cors_is_a_bad_handshake_method",
     {.method = options, .eio = "4", .transport = "polling", .preflight = true},
     reject(bad_handshake_method)},
    {"options_without_request_method_is_not_a_preflight",
     {.method = options, .eio = "4", .transport = "polling", .cors_enabled = true},
     reject(bad_handshake_method)},

    // E3 step 1: the transport.
    {"missing_transport", {.method = get, .eio = "4"}, reject(transport_unknown)},
    {"unknown_transport", {.method = get, .eio = "4", .transport = "webtransport"}, reject(transport_unknown)},
    {"unknown_transport_on_an_upgrade_is_refused_raw",
     {.method = get, .eio = "4", .transport = "flash", .upgrade = true},
     refuse(transport_unknown)},
    {"unknown_transport_wins_over_a_bad_origin",
     {.method = get, .eio = "4", .transport = "x", .origin_valid = false},
     reject(transport_unknown)},

    // E3 step 2 (H6): the Origin header. JSON even on an upgrade request, as the reference.
    {"bad_origin", {.method = get, .eio = "4", .transport = "polling", .origin_valid = false},
     reject(bad_request)},
    {"bad_origin_on_an_upgrade_is_json",
     {.method = get, .eio = "4", .transport = "websocket", .upgrade = true, .origin_valid = false},
     reject(bad_request)},
    {"bad_origin_wins_over_an_unknown_sid",
     {.method = get, .transport = "polling", .sid = "gone", .origin_valid = false},
     reject(bad_request)},

    // E3 step 3: the sid names no session.
    {"unknown_sid", {.method = get, .transport = "polling", .sid = "gone"}, reject(unknown_sid)},
    {"unknown_sid_on_a_post", {.method = post, .transport = "polling", .sid = "gone"}, reject(unknown_sid)},
    {"unknown_sid_on_an_upgrade_is_refused_raw",
     {.method = get, .transport = "websocket", .sid = "gone", .upgrade = true},
     refuse(unknown_sid)},

    // Polling on a session (P1, P2, P11, U7).
    {"poll_get", {.method = get, .transport = "polling", .sid = "s", .session = polling_session},
     act(endpoint_action::poll_get)},
    {"poll_post", {.method = post, .transport = "polling", .sid = "s", .session = polling_session},
     act(endpoint_action::poll_post)},
    {"poll_ignores_the_eio_parameter",
     {.method = get, .eio = "3", .transport = "polling", .sid = "s", .session = polling_session},
     act(endpoint_action::poll_get)},
    {"poll_on_a_closed_session_is_the_sessions_business",
     {.method = get, .transport = "polling", .sid = "s", .session = closed_session},
     act(endpoint_action::poll_get)},
    {"poll_while_upgrading", {.method = get, .transport = "polling", .sid = "s", .session = upgrading_session},
     act(endpoint_action::poll_get)},
    {"other_method_on_a_session", {.method = put, .transport = "polling", .sid = "s", .session = polling_session},
     act(endpoint_action::unsupported_method)},
    {"options_on_a_session_without_cors",
     {.method = options, .transport = "polling", .sid = "s", .preflight = true, .session = polling_session},
     act(endpoint_action::unsupported_method)},
    {"polling_on_an_upgraded_session",
     {.method = get, .transport = "polling", .sid = "s", .session = upgraded_session},
     reject(bad_request)},
    {"post_on_an_upgraded_session",
     {.method = post, .transport = "polling", .sid = "s", .session = upgraded_session},
     reject(bad_request)},
    {"upgraded_session_wins_over_the_method",
     {.method = put, .transport = "polling", .sid = "s", .session = upgraded_session},
     reject(bad_request)},

    // Upgrades (U1, U7).
    {"upgrade", {.method = get, .transport = "websocket", .sid = "s", .upgrade = true, .session = polling_session},
     act(endpoint_action::upgrade)},
    {"upgrade_without_upgrade_headers",
     {.method = get, .transport = "websocket", .sid = "s", .session = polling_session},
     reject(bad_request)},
    {"upgrade_with_a_bad_websocket_handshake_is_refused_as_bad_request",
     {.method = get, .transport = "websocket", .sid = "s", .upgrade = true, .websocket_error = bad_key,
      .session = polling_session},
     refuse(bad_request)},
    {"bad_websocket_handshake_wins_over_an_upgraded_session",
     {.method = get, .transport = "websocket", .sid = "s", .upgrade = true, .websocket_error = bad_key,
      .session = upgraded_session},
     refuse(bad_request)},
    {"second_upgrade_while_one_is_pending",
     {.method = get, .transport = "websocket", .sid = "s", .upgrade = true, .session = upgrading_session},
     act(endpoint_action::accept_and_close)},
    {"upgrade_of_an_upgraded_session",
     {.method = get, .transport = "websocket", .sid = "s", .upgrade = true, .session = upgraded_session},
     act(endpoint_action::accept_and_close)},
    {"upgrade_of_a_closed_session",
     {.method = get, .transport = "websocket", .sid = "s", .upgrade = true, .session = closed_session},
     act(endpoint_action::accept_and_close)},

    // Handshake rules after the sid (E3 steps 5 and 6, then the version, E5, draining).
    {"post_handshake", {.method = post, .eio = "4", .transport = "polling"}, reject(bad_handshake_method)},
    {"put_handshake", {.method = put, .eio = "4", .transport = "polling"}, reject(bad_handshake_method)},
    {"handshake_method_wins_over_the_version", {.method = post, .eio = "3", .transport = "polling"},
     reject(bad_handshake_method)},
    {"websocket_handshake_without_upgrade_headers", {.method = get, .eio = "4", .transport = "websocket"},
     reject(bad_request)},
    {"missing_upgrade_wins_over_the_version", {.method = get, .eio = "3", .transport = "websocket"},
     reject(bad_request)},
    {"eio_3", {.method = get, .eio = "3", .transport = "polling"}, reject(unsupported_version)},
    {"missing_eio", {.method = get, .transport = "polling"}, reject(unsupported_version)},
    {"eio_3_on_an_upgrade_is_refused_raw", {.method = get, .eio = "3", .transport = "websocket", .upgrade = true},
     refuse(unsupported_version)},
    {"eio_3_polling_with_upgrade_headers_is_refused_raw",
     {.method = get, .eio = "3", .transport = "polling", .upgrade = true},
     refuse(unsupported_version)},
    {"version_wins_over_a_bad_websocket_handshake",
     {.method = get, .eio = "3", .transport = "websocket", .upgrade = true, .websocket_error = bad_key},
     refuse(unsupported_version)},
    {"bad_websocket_handshake_is_refused_with_its_reason",
     {.method = get, .eio = "4", .transport = "websocket", .upgrade = true, .websocket_error = bad_key},
     refuse({error_code::bad_request, bad_key, 400})},
    {"polling_handshake_ignores_websocket_header_problems",
     {.method = get, .eio = "4", .transport = "polling", .upgrade = true, .websocket_error = bad_key},
     act(endpoint_action::handshake_polling)},
    {"bad_websocket_handshake_wins_over_draining",
     {.method = get, .eio = "4", .transport = "websocket", .upgrade = true, .websocket_error = bad_key,
      .stopping = true},
     refuse({error_code::bad_request, bad_key, 400})},
    {"draining_refuses_a_polling_handshake", {.method = get, .eio = "4", .transport = "polling", .stopping = true},
     reject(shutting_down)},
    {"draining_refuses_a_websocket_handshake",
     {.method = get, .eio = "4", .transport = "websocket", .upgrade = true, .stopping = true},
     reject(shutting_down)},
    {"draining_still_serves_sessions",
     {.method = get, .transport = "polling", .sid = "s", .stopping = true, .session = polling_session},
     act(endpoint_action::poll_get)},
    {"draining_still_upgrades",
     {.method = get, .transport = "websocket", .sid = "s", .upgrade = true, .stopping = true,
      .session = polling_session},
     act(endpoint_action::upgrade)},
};
// clang-format on

struct endpoint_rules : ::testing::TestWithParam<rule_case> {};

TEST_P(endpoint_rules, decides_as_the_reference) {
    EXPECT_EQ(decide(GetParam().request), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(cases, endpoint_rules, ::testing::ValuesIn(cases),
                         [](const ::testing::TestParamInfo<rule_case>& p) { return std::string(p.param.name); });

} // namespace

// E4: every code with its message, body and status.
TEST(endpoint_errors, json_body_and_status_of_every_code) {
    struct expectation {
        endpoint_error error;
        const char* body;
        unsigned status;
    };
    const expectation all[] = {
        {transport_unknown, R"({"code":0,"message":"Transport unknown"})", 400},
        {unknown_sid, R"({"code":1,"message":"Session ID unknown"})", 400},
        {bad_handshake_method, R"({"code":2,"message":"Bad handshake method"})", 400},
        {bad_request, R"({"code":3,"message":"Bad request"})", 400},
        {shutting_down, R"({"code":4,"message":"Server is shutting down"})", 403},
        {unsupported_version, R"({"code":5,"message":"Unsupported protocol version"})", 400},
        {payload_too_large, R"({"code":3,"message":"Payload too large"})", 413},
    };
    for (const auto& e : all) {
        SCOPED_TRACE(e.body);
        EXPECT_EQ(to_json(e.error), e.body);
        EXPECT_EQ(e.error.http_status, e.status);
    }
}
