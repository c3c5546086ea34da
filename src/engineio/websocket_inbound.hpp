#pragma once
// What an Engine.IO packet arriving on a WebSocket means (protocol.md W3, W8, U2-U5): the
// transport hands over each text or binary message, this delivers it to the session and says
// what the socket must do. The WebSocket layer's own frames (ping, pong, close) stay in the
// transport. Shard-local, as the session.

#include "engineio/session.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace kamea::engineio {

enum class websocket_step : std::uint8_t {
    none,        // delivered to the session, or ignored: nothing for the socket to do
    reply_probe, // U2: send `probe_reply` as a text frame
    upgraded,    // U4: this WebSocket now carries the session
    close,       // close this WebSocket (a failed or stale probe, U5), the session lives on
};

inline constexpr std::string_view probe_reply = "3probe";

// One message on `link`: the session's WebSocket, or (`probe`) its upgrade candidate.
// `scratch` receives the bytes of a base64 binary packet.
websocket_step on_websocket_message(session& s, const transport_link* link, bool probe, std::string_view payload,
                                    bool binary, std::string& scratch);

} // namespace kamea::engineio
