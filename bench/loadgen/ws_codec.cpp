#include "loadgen/ws_codec.hpp"

#include <cstring>
#include <random>

namespace kamea::loadgen {

mask_source::mask_source() {
    std::random_device rd;
    state_ = (static_cast<std::uint64_t>(rd()) << 32U) ^ rd();
    if (state_ == 0) {
        state_ = 0x9e3779b97f4a7c15ULL;
    }
}

// xorshift64*: fast, full period, good enough for masking keys and handshake nonces.
std::uint64_t mask_source::next64() {
    state_ ^= state_ >> 12U;
    state_ ^= state_ << 25U;
    state_ ^= state_ >> 27U;
    return state_ * 0x2545f4914f6cdd1dULL;
}

std::uint32_t mask_source::next() {
    return static_cast<std::uint32_t>(next64() >> 32U);
}

void append_frame(std::string& out, ws_opcode op, std::string_view payload, std::uint32_t mask) {
    std::size_t start = out.size();
    std::size_t n = payload.size();
    std::size_t header = 2 + 4 + (n < 126 ? 0 : n <= 0xffff ? 2 : 8);
    out.resize(start + header + n);
    auto* p = reinterpret_cast<unsigned char*>(out.data() + start);
    *p++ = static_cast<unsigned char>(0x80U | static_cast<unsigned>(op));
    if (n < 126) {
        *p++ = static_cast<unsigned char>(0x80U | n);
    } else if (n <= 0xffff) {
        *p++ = 0x80U | 126U;
        *p++ = static_cast<unsigned char>(n >> 8U);
        *p++ = static_cast<unsigned char>(n);
    } else {
        *p++ = 0x80U | 127U;
        for (int shift = 56; shift >= 0; shift -= 8) {
            *p++ = static_cast<unsigned char>(static_cast<std::uint64_t>(n) >> shift);
        }
    }
    unsigned char key[4] = {static_cast<unsigned char>(mask >> 24U), static_cast<unsigned char>(mask >> 16U),
                            static_cast<unsigned char>(mask >> 8U), static_cast<unsigned char>(mask)};
    std::memcpy(p, key, 4);
    p += 4;
    const auto* src = reinterpret_cast<const unsigned char*>(payload.data());
    for (std::size_t i = 0; i < n; ++i) {
        p[i] = src[i] ^ key[i & 3U];
    }
}

int frame_decoder::parse_header(std::string_view data, header& h) {
    if (data.size() < 2) {
        return 0;
    }
    auto b0 = static_cast<unsigned char>(data[0]);
    auto b1 = static_cast<unsigned char>(data[1]);
    if ((b0 & 0x70U) != 0 || (b1 & 0x80U) != 0) {
        return -1; // RSV bits without an extension, or a masked server frame (RFC 6455 5.1)
    }
    unsigned op = b0 & 0x0fU;
    bool control = (op & 0x08U) != 0;
    if ((op > 0x2 && op < 0x8) || op > 0xa) {
        return -1;
    }
    h.fin = (b0 & 0x80U) != 0;
    h.op = static_cast<ws_opcode>(op);
    std::uint64_t len = b1 & 0x7fU;
    h.header_size = 2;
    if (len == 126) {
        if (data.size() < 4) {
            return 0;
        }
        len = (static_cast<std::uint64_t>(static_cast<unsigned char>(data[2])) << 8U) |
              static_cast<unsigned char>(data[3]);
        h.header_size = 4;
    } else if (len == 127) {
        if (data.size() < 10) {
            return 0;
        }
        len = 0;
        for (int i = 2; i < 10; ++i) {
            len = (len << 8U) | static_cast<unsigned char>(data[static_cast<std::size_t>(i)]);
        }
        h.header_size = 10;
    }
    if (control && (!h.fin || len > 125)) {
        return -1;
    }
    h.payload_size = len;
    return 1;
}

void frame_decoder::release(std::string& s) {
    if (s.capacity() > 256) {
        std::string().swap(s);
    } else {
        s.clear();
    }
}

} // namespace kamea::loadgen
