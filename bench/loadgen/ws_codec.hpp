#pragma once
// The client side of RFC 6455 framing, sans-I/O: masked frames out (section 5.3: every
// client-to-server frame is masked), unmasked server frames in. No extensions are offered,
// so RSV bits must be clear, as with a server that declines permessage-deflate.

#include <cstdint>
#include <string>
#include <string_view>

namespace kamea::loadgen {

enum class ws_opcode : std::uint8_t {
    continuation = 0x0,
    text = 0x1,
    binary = 0x2,
    close = 0x8,
    ping = 0x9,
    pong = 0xa,
};

// Masking keys. RFC 6455 wants them unpredictable to defeat cache poisoning through
// intermediaries; a benchmark on loopback has none, so a fast PRNG seeded from
// std::random_device is enough (and keeps the generator's own CPU low).
class mask_source {
public:
    mask_source();
    std::uint32_t next();
    std::uint64_t next64();

private:
    std::uint64_t state_;
};

// Appends one complete (FIN) frame with `payload` masked by `mask`.
void append_frame(std::string& out, ws_opcode op, std::string_view payload, std::uint32_t mask);

class frame_decoder {
public:
    enum class status : std::uint8_t { ok, protocol_error, too_big };

    explicit frame_decoder(std::size_t max_message) : max_message_(max_message) {}

    // Consumes `bytes`; calls on_message(ws_opcode, std::string_view payload) once per complete
    // data message (fragments joined) and once per control frame. Views are valid only during
    // the call. After an error the decoder is unusable.
    template <typename F>
    status feed(std::string_view bytes, F&& on_message);

    // Bytes held between reads (0 for an idle connection).
    std::size_t buffered() const { return pending_.capacity() + fragments_.capacity(); }

private:
    struct header {
        bool fin;
        ws_opcode op;
        std::size_t header_size;
        std::uint64_t payload_size;
    };
    // 1: complete header in `h`; 0: need more bytes; -1: protocol error.
    static int parse_header(std::string_view data, header& h);
    static void release(std::string& s);

    std::size_t max_message_;
    std::string pending_;   // an incomplete frame carried over to the next read
    std::string fragments_; // a fragmented data message being joined
    ws_opcode fragment_op_ = ws_opcode::text;
    bool in_fragments_ = false;
};

template <typename F>
frame_decoder::status frame_decoder::feed(std::string_view bytes, F&& on_message) {
    std::string_view data = bytes;
    bool carried = !pending_.empty();
    if (carried) {
        pending_.append(bytes);
        data = pending_;
    }
    status st = status::ok;
    std::size_t pos = 0;
    while (pos < data.size()) {
        header h{};
        int r = parse_header(data.substr(pos), h);
        if (r < 0) {
            st = status::protocol_error;
            break;
        }
        if (r == 0) {
            break;
        }
        if (h.payload_size > max_message_) {
            st = status::too_big;
            break;
        }
        if (data.size() - pos - h.header_size < h.payload_size) {
            break;
        }
        std::string_view payload = data.substr(pos + h.header_size, h.payload_size);
        pos += h.header_size + h.payload_size;
        switch (h.op) {
        case ws_opcode::close:
        case ws_opcode::ping:
        case ws_opcode::pong:
            on_message(h.op, payload);
            break;
        case ws_opcode::continuation:
            if (!in_fragments_ || fragments_.size() + payload.size() > max_message_) {
                st = in_fragments_ ? status::too_big : status::protocol_error;
                break;
            }
            fragments_.append(payload);
            if (h.fin) {
                in_fragments_ = false;
                on_message(fragment_op_, std::string_view(fragments_));
                release(fragments_);
            }
            break;
        default: // text, binary
            if (in_fragments_) {
                st = status::protocol_error;
                break;
            }
            if (h.fin) {
                on_message(h.op, payload);
            } else {
                in_fragments_ = true;
                fragment_op_ = h.op;
                fragments_.assign(payload);
            }
            break;
        }
        if (st != status::ok) {
            break;
        }
    }
    if (carried) {
        pending_.erase(0, pos);
    } else {
        pending_.assign(data.substr(pos));
    }
    if (pending_.empty()) {
        release(pending_);
    }
    return st;
}

} // namespace kamea::loadgen
