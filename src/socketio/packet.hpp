#pragma once
// Socket.IO v5 packet codec (protocol.md S2-S5, S15). Sans-I/O: text in, packet out.
// Payloads stay raw JSON text as well as parsed, so what we forward keeps the client's key
// order and number spelling (S4).

#include "engineio/packet.hpp"
#include "socketio/error.hpp"

#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kamea::socketio {

enum class packet_type : char {
    connect = '0',
    disconnect = '1',
    event = '2',
    ack = '3',
    connect_error = '4',
    binary_event = '5',
    binary_ack = '6',
};

constexpr std::size_t max_attachments = 10;

struct packet {
    packet_type type = packet_type::event;
    std::string nsp = "/";
    std::optional<std::uint64_t> id;
    std::size_t attachments = 0;
    std::string_view json;    // raw payload text, empty when absent (views the input)
    boost::json::value value; // parsed payload (null when absent)
};

struct decode_result {
    std::optional<packet> value;
    socketio::error error = error::bad_type; // why, when there is no value
};

// Decodes and validates one packet as the reference decoder does (S5).
decode_result decode(std::string_view text);

// True for the event names a server must never emit nor accept (S5, S17).
bool is_reserved_event(std::string_view name);

// For a valid JSON array text, the raw text of its elements after the first, without the
// brackets ("" when there are none): `["ev",1,{"a":2}]` -> `1,{"a":2}`.
std::string_view args_after_first(std::string_view array_json);

// Checks every {"_placeholder":true,"num":N} in `v`: N must be below `count` (S16).
bool placeholders_valid(const boost::json::value& v, std::size_t count);

// The packet header: type, attachment count, namespace and ack id (S3), e.g. "2/devices,12".
std::string encode_head(packet_type type, std::string_view nsp, std::optional<std::uint64_t> id = std::nullopt,
                        std::size_t attachments = 0);

// `["<name>",<args>]` with `args` raw JSON (comma-separated values, possibly empty).
std::string encode_event_body(std::string_view name, std::string_view args);

// A whole Socket.IO packet as a shareable Engine.IO message (S1); see wire_packet for
// `conflate_key`.
engineio::wire_ptr make_packet(packet_type type, std::string_view nsp, std::string_view body,
                               std::optional<std::uint64_t> id = std::nullopt, std::size_t attachments = 0,
                               std::int64_t stamp_ns = 0, std::string conflate_key = {});

} // namespace kamea::socketio
