#pragma once
// Engine.IO v4 packets (protocol.md E6, P3, W2): decoding what clients send and the shared,
// pre-encoded form of what the server sends.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kamea::engineio {

enum class packet_type : char {
    open = '0',
    close = '1',
    ping = '2',
    pong = '3',
    message = '4',
    upgrade = '5',
    noop = '6',
};

constexpr char record_separator = '\x1e';

// One decoded inbound packet. `data` views either the input or the caller's scratch string
// (base64-decoded binary).
struct packet {
    packet_type type;
    bool binary = false;
    std::string_view data;
};

// Decodes one text-encoded packet ("4hello", "bAQID", "2probe"). `scratch` receives the
// bytes of a base64 binary packet. nullopt = parse error (E7).
std::optional<packet> decode_text(std::string_view text, std::string& scratch);

// Splits a v4 polling payload on the record separator (P3). Never yields nothing:
// an empty body is one empty (invalid) packet.
std::vector<std::string_view> split_payload(std::string_view body);

// An outbound packet encoded once and shared by every recipient (style.md section 3).
// `bytes` is a complete unmasked WebSocket frame: `header_size` bytes of frame header, then
// the payload. A text packet's payload is "<type><data>"; a binary message's payload is the
// raw bytes (W2). Polling uses the payload only.
struct wire_packet {
    std::string bytes;
    std::uint8_t header_size = 0;
    bool binary = false;
    // When the data entered the service (steady clock, ns), for the ingest-to-write
    // histogram; 0 when not measured.
    std::int64_t stamp_ns = 0;
    // Packets with the same non-empty key may be conflated in a lagging session's queue, the
    // newest replacing the older (--conflate-after): a device's telemetries, keyed by room.
    std::string conflate_key;

    std::string_view payload() const { return std::string_view(bytes).substr(header_size); }
};
using wire_ptr = std::shared_ptr<const wire_packet>;

// Text packet "<type><head><body>"; head and body are concatenated so callers avoid a copy.
wire_ptr make_text(packet_type type, std::string_view head = {}, std::string_view body = {}, std::int64_t stamp_ns = 0,
                   std::string conflate_key = {});
// Binary message packet with raw bytes.
wire_ptr make_binary(std::string_view bytes);

// Appends the packet's polling form to `out`: the text payload, or "b<base64>" (P3).
void append_polling(const wire_packet& p, std::string& out);

// WebSocket frame header for an unmasked, final frame (RFC 6455 section 5.2).
std::uint8_t write_frame_header(char* out, std::uint8_t opcode, std::uint64_t length);

} // namespace kamea::engineio
