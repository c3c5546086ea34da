#pragma once
// Incremental RFC 6455 frame parser for client-to-server frames. Sans-I/O: bytes in,
// complete messages and control frames out, or the close code a protocol error calls for
// (1002 protocol error, 1007 invalid UTF-8, 1009 message too big: what the reference's `ws`
// library answers, protocol.md W5).

#include <cstdint>
#include <string>
#include <string_view>

namespace kamea::transport {

bool valid_utf8(std::string_view s);

enum class ws_opcode : std::uint8_t {
    continuation = 0x0,
    text = 0x1,
    binary = 0x2,
    close = 0x8,
    ping = 0x9,
    pong = 0xa,
};

struct ws_message {
    ws_opcode opcode;
    std::string_view payload;        // for close: the reason text
    std::uint16_t close_code = 1005; // for close: 1005 when no code was sent
};

class frame_parser {
public:
    explicit frame_parser(std::size_t max_message) : max_message_(max_message) {}

    // Consumes `data` (unmasked in place). Calls on_message(const ws_message&) per complete
    // message or control frame; the view is valid only during the call. Returns 0, or the
    // close code of the first protocol error (the parser is then unusable).
    template <typename F>
    std::uint16_t feed(char* data, std::size_t size, F&& on_message);

    // Memory held between messages (0 when idle: buffers are released after each message).
    std::size_t buffered() const {
        auto inline_capacity = std::string().capacity();
        return (message_.capacity() > inline_capacity ? message_.capacity() : 0) +
               (control_.capacity() > inline_capacity ? control_.capacity() : 0);
    }

private:
    std::uint16_t parse_header();
    std::uint16_t finish_frame(std::string_view payload, bool& deliver, ws_message& out);

    std::size_t max_message_;
    unsigned char header_[14]{};
    std::size_t header_have_ = 0;
    bool in_payload_ = false;
    bool fin_ = false;
    ws_opcode opcode_ = ws_opcode::text;
    std::uint64_t remaining_ = 0;
    unsigned char mask_[4]{};
    std::size_t mask_pos_ = 0;
    bool fragmented_ = false; // a data message continues in later frames
    ws_opcode message_opcode_ = ws_opcode::text;
    std::string message_; // payload of a message spread over several reads/frames
    std::string control_; // payload of a control frame spread over several reads
    bool failed_ = false;
};

template <typename F>
std::uint16_t frame_parser::feed(char* data, std::size_t size, F&& on_message) {
    if (failed_) {
        return 1002;
    }
    std::size_t pos = 0;
    while (true) {
        if (!in_payload_) {
            // Header: 2 bytes, then extended length and mask key.
            while (header_have_ < 2 && pos < size) {
                header_[header_have_++] = static_cast<unsigned char>(data[pos++]);
            }
            if (header_have_ < 2) {
                return 0;
            }
            if ((header_[1] & 0x80) == 0) {
                failed_ = true;
                return 1002; // client frames must be masked: no need to wait for more
            }
            std::size_t len7 = header_[1] & 0x7f;
            std::size_t need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4;
            while (header_have_ < need && pos < size) {
                header_[header_have_++] = static_cast<unsigned char>(data[pos++]);
            }
            if (header_have_ < need) {
                return 0;
            }
            if (auto code = parse_header()) {
                failed_ = true;
                return code;
            }
            in_payload_ = true;
        }
        bool control = static_cast<std::uint8_t>(opcode_) >= 0x8;
        std::size_t take =
            static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, static_cast<std::uint64_t>(size - pos)));
        char* chunk = data + pos;
        for (std::size_t i = 0; i < take; ++i) {
            chunk[i] = static_cast<char>(chunk[i] ^ static_cast<char>(mask_[mask_pos_++ & 3]));
        }
        pos += take;
        remaining_ -= take;
        std::string_view payload;
        bool whole_in_chunk =
            remaining_ == 0 && (control ? control_.empty() : (message_.empty() && fin_ && !fragmented_));
        if (remaining_ > 0 || !whole_in_chunk) {
            (control ? control_ : message_).append(chunk, take);
        }
        if (remaining_ > 0) {
            return 0; // need more bytes
        }
        if (whole_in_chunk) {
            payload = std::string_view(chunk, take); // zero-copy: the frame fit in this read
        } else {
            payload = control ? std::string_view(control_) : std::string_view(message_);
        }
        bool deliver = false;
        ws_message m{};
        if (auto code = finish_frame(payload, deliver, m)) {
            failed_ = true;
            return code;
        }
        if (deliver) {
            on_message(m);
        }
        if (control) {
            control_.clear();
        } else if (fin_) {
            if (message_.capacity() > 1024) {
                std::string().swap(message_); // idle connections hold no buffers
            } else {
                message_.clear();
            }
        }
        in_payload_ = false;
        header_have_ = 0;
        mask_pos_ = 0;
        if (pos >= size) {
            return 0;
        }
    }
}

} // namespace kamea::transport
