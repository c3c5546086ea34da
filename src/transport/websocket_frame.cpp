#include "transport/websocket_frame.hpp"

namespace kamea::transport {

bool valid_utf8(std::string_view s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const auto* end = p + s.size();
    while (p < end) {
        unsigned char c = *p;
        if (c < 0x80) {
            ++p;
            continue;
        }
        std::size_t n;
        std::uint32_t cp;
        if ((c & 0xe0) == 0xc0) {
            n = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (static_cast<std::size_t>(end - p) <= n) {
            return false;
        }
        for (std::size_t i = 1; i <= n; ++i) {
            if ((p[i] & 0xc0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        // Overlong forms, surrogates and code points past U+10FFFF are invalid.
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff)) {
            return false;
        }
        p += n + 1;
    }
    return true;
}

std::uint16_t frame_parser::parse_header() {
    fin_ = (header_[0] & 0x80) != 0;
    if ((header_[0] & 0x70) != 0) {
        return 1002; // RSV bits: no extension was negotiated
    }
    auto op = header_[0] & 0x0f;
    if (op != 0x0 && op != 0x1 && op != 0x2 && op != 0x8 && op != 0x9 && op != 0xa) {
        return 1002;
    }
    opcode_ = static_cast<ws_opcode>(op);
    if ((header_[1] & 0x80) == 0) {
        return 1002; // client frames must be masked
    }
    std::uint64_t len = header_[1] & 0x7f;
    std::size_t at = 2;
    if (len == 126) {
        len = (std::uint64_t{header_[2]} << 8) | header_[3];
        at = 4;
    } else if (len == 127) {
        len = 0;
        for (int i = 0; i < 8; ++i) {
            len = (len << 8) | header_[2 + i];
        }
        if ((len >> 63) != 0) {
            return 1002;
        }
        at = 10;
    }
    for (int i = 0; i < 4; ++i) {
        mask_[i] = header_[at + static_cast<std::size_t>(i)];
    }
    remaining_ = len;
    if (op >= 0x8) {
        if (!fin_ || len > 125) {
            return 1002; // control frames are short and never fragmented
        }
        return 0;
    }
    if (op == 0x0 && !fragmented_) {
        return 1002; // continuation without a message
    }
    if (op != 0x0 && fragmented_) {
        return 1002; // a new message before the previous one ended
    }
    if (op != 0x0) {
        message_opcode_ = opcode_;
    }
    if (message_.size() + len > max_message_) {
        return 1009;
    }
    return 0;
}

std::uint16_t frame_parser::finish_frame(std::string_view payload, bool& deliver, ws_message& out) {
    switch (opcode_) {
    case ws_opcode::ping:
    case ws_opcode::pong:
        out = {opcode_, payload};
        deliver = true;
        return 0;
    case ws_opcode::close: {
        out = {ws_opcode::close, {}, 1005};
        if (payload.size() == 1) {
            return 1002;
        }
        if (payload.size() >= 2) {
            auto code = static_cast<std::uint16_t>((static_cast<unsigned char>(payload[0]) << 8) |
                                                   static_cast<unsigned char>(payload[1]));
            bool valid = (code >= 1000 && code <= 1014 && code != 1004 && code != 1005 && code != 1006) ||
                         (code >= 3000 && code <= 4999);
            if (!valid) {
                return 1002;
            }
            if (!valid_utf8(payload.substr(2))) {
                return 1007;
            }
            out.close_code = code;
            out.payload = payload.substr(2);
        }
        deliver = true;
        return 0;
    }
    default:
        break;
    }
    if (!fin_) {
        fragmented_ = true;
        return 0;
    }
    fragmented_ = false;
    if (message_opcode_ == ws_opcode::text && !valid_utf8(payload)) {
        return 1007;
    }
    out = {message_opcode_, payload};
    deliver = true;
    return 0;
}

} // namespace kamea::transport
