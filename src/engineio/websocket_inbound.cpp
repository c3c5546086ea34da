#include "engineio/websocket_inbound.hpp"

namespace kamea::engineio {

namespace {

websocket_step on_probe(session& s, const transport_link* link, const packet& p) {
    if (!s.is_probe(link)) {
        return websocket_step::close; // the upgrade was given up (U6) or the session ended
    }
    switch (s.on_probe_packet(p)) {
    case session::probe_action::reply_probe:
        return websocket_step::reply_probe;
    case session::probe_action::upgraded:
        return websocket_step::upgraded;
    case session::probe_action::abort:
        break;
    }
    return websocket_step::close; // U5
}

} // namespace

websocket_step on_websocket_message(session& s, const transport_link* link, bool probe, std::string_view payload,
                                    bool binary, std::string& scratch) {
    packet p{packet_type::message, true, payload}; // W3: a binary frame is a message
    if (!binary) {
        auto decoded = decode_text(payload, scratch);
        if (!decoded) {
            if (probe) {
                return websocket_step::close; // a probe that misbehaves is dropped, not the session
            }
            s.close(close_reason::parse_error); // W8
            return websocket_step::none;
        }
        p = *decoded;
    }
    if (probe) {
        return on_probe(s, link, p);
    }
    if (s.is_active(link)) {
        s.on_packet(p);
    }
    return websocket_step::none;
}

} // namespace kamea::engineio
