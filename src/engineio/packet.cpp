#include "engineio/packet.hpp"

#include "core/base64.hpp"

#include <cstring>

namespace kamea::engineio {
namespace {

constexpr std::uint8_t opcode_text = 0x1;
constexpr std::uint8_t opcode_binary = 0x2;

wire_ptr make_frame(std::uint8_t opcode, std::string_view a, std::string_view b, std::string_view c,
                    std::int64_t stamp_ns = 0, std::string conflate_key = {}) {
    auto p = std::make_shared<wire_packet>();
    p->stamp_ns = stamp_ns;
    p->conflate_key = std::move(conflate_key);
    std::uint64_t length = a.size() + b.size() + c.size();
    char header[10];
    p->header_size = write_frame_header(header, opcode, length);
    p->binary = opcode == opcode_binary;
    p->bytes.resize(p->header_size + length);
    char* out = p->bytes.data();
    std::memcpy(out, header, p->header_size);
    out += p->header_size;
    for (auto part : {a, b, c}) {
        if (!part.empty()) {
            std::memcpy(out, part.data(), part.size());
            out += part.size();
        }
    }
    return p;
}

} // namespace

std::optional<packet> decode_text(std::string_view text, std::string& scratch) {
    if (text.empty()) {
        return std::nullopt;
    }
    char t = text.front();
    if (t == 'b') {
        auto bytes = core::base64_decode(text.substr(1));
        if (!bytes) {
            return std::nullopt;
        }
        scratch = std::move(*bytes);
        return packet{packet_type::message, true, scratch};
    }
    if (t < '0' || t > '6') {
        return std::nullopt;
    }
    return packet{static_cast<packet_type>(t), false, text.substr(1)};
}

std::vector<std::string_view> split_payload(std::string_view body) {
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    while (true) {
        auto pos = body.find(record_separator, start);
        if (pos == std::string_view::npos) {
            parts.push_back(body.substr(start));
            return parts;
        }
        parts.push_back(body.substr(start, pos - start));
        start = pos + 1;
    }
}

std::uint8_t write_frame_header(char* out, std::uint8_t opcode, std::uint64_t length) {
    out[0] = static_cast<char>(0x80 | opcode); // FIN + opcode
    if (length < 126) {
        out[1] = static_cast<char>(length);
        return 2;
    }
    if (length <= 0xffff) {
        out[1] = 126;
        out[2] = static_cast<char>((length >> 8) & 0xff);
        out[3] = static_cast<char>(length & 0xff);
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; ++i) {
        out[2 + i] = static_cast<char>((length >> (56 - 8 * i)) & 0xff);
    }
    return 10;
}

wire_ptr make_text(packet_type type, std::string_view head, std::string_view body, std::int64_t stamp_ns,
                   std::string conflate_key) {
    char t = static_cast<char>(type);
    return make_frame(opcode_text, std::string_view(&t, 1), head, body, stamp_ns, std::move(conflate_key));
}

wire_ptr make_binary(std::string_view bytes) {
    return make_frame(opcode_binary, bytes, {}, {});
}

void append_polling(const wire_packet& p, std::string& out) {
    if (p.binary) {
        out += 'b';
        core::base64_encode_append(p.payload(), out);
    } else {
        out += p.payload();
    }
}

} // namespace kamea::engineio
