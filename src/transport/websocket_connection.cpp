#include "transport/websocket_connection.hpp"

#include "core/base64.hpp"
#include "core/log.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace kamea::transport {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;
namespace {
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
}

websocket_connection::websocket_connection(shard& sh,
                                           asio::ip::tcp::socket socket,
                                           std::shared_ptr<engineio::session> session,
                                           bool probe,
                                           bool base64_binary,
                                           bool one_frame_per_write)
    : shard_(sh), socket_(std::move(socket)), session_(std::move(session)), probe_(probe),
      base64_binary_(base64_binary), one_frame_per_write_(one_frame_per_write), parser_(session_->options().max_payload),
      signal_(socket_.get_executor()) {
    ++shard_.websocket_connections;
    shard_.busy_connections.fetch_add(1, std::memory_order_relaxed);
}

websocket_connection::~websocket_connection() {
    --shard_.websocket_connections;
    shard_.busy_connections.fetch_sub(1, std::memory_order_relaxed);
}

void websocket_connection::wake() {
    woken_ = true;
    signal_.cancel();
}

asio::awaitable<void> websocket_connection::run(std::string handshake_response,
                                                std::string leftover) {
    boost::system::error_code ec;
    if (!probe_) {
        session_->attach_websocket(this);
    }
    auto [wec, n] = co_await asio::async_write(socket_, asio::buffer(handshake_response), nothrow);
    if (!wec) {
        socket_.non_blocking(true, ec);
        if (!probe_) {
            session_->open(); // the open packet is the first frame (W1)
        }
        co_await (read_loop(std::move(leftover)) && write_loop());
    }
    if (probe_) {
        session_->abort_upgrade(this);
    } else {
        session_->detach_websocket(this);
    }
    socket_.close(ec);
}

void websocket_connection::queue_control(ws_opcode op, std::string_view payload) {
    char header[10];
    auto n = engineio::write_frame_header(header, static_cast<std::uint8_t>(op), payload.size());
    std::string frame(header, n);
    frame += payload;
    control_.push_back(std::move(frame));
    wake();
}

void websocket_connection::fail(std::uint16_t code) {
    closing_ = true;
    close_code_ = code;
    wake();
}

std::uint16_t websocket_connection::consume(char* data, std::size_t size) {
    return parser_.feed(data, size, [this](const ws_message& m) { on_frame(m); });
}

asio::awaitable<void> websocket_connection::read_loop(std::string leftover) {
    if (!leftover.empty()) {
        if (auto code = consume(leftover.data(), leftover.size())) {
            fail(code);
            co_return;
        }
    }
    while (!closing_ && !peer_gone_) {
        auto [ec] = co_await socket_.async_wait(asio::ip::tcp::socket::wait_read, nothrow);
        if (ec || closing_) {
            break;
        }
        // Read and process synchronously: the shard's scratch buffer is free again before
        // any other connection of this shard can run.
        std::size_t n = socket_.read_some(asio::buffer(shard_.read_scratch), ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) {
            continue;
        }
        if (ec) {
            peer_gone_ = true;
            break;
        }
        if (auto code = consume(shard_.read_scratch.data(), n)) {
            core::log::debug("websocket_protocol_error", {{"sid", session_->sid()}, {"code", code}});
            fail(code);
            break;
        }
    }
    if (!closing_) {
        peer_gone_ = true;
    }
    wake();
}

void websocket_connection::on_frame(const ws_message& m) {
    if (closing_) {
        return;
    }
    switch (m.opcode) {
    case ws_opcode::ping:
        queue_control(ws_opcode::pong, m.payload); // W7
        return;
    case ws_opcode::pong:
        return;
    case ws_opcode::close: {
        // Echo the close (RFC 6455 section 5.5.1), then end.
        closing_ = true;
        close_code_ = m.close_code == 1005 ? 0 : m.close_code;
        wake();
        return;
    }
    case ws_opcode::text: {
        auto p = engineio::decode_text(m.payload, scratch_);
        if (!p) {
            if (probe_) {
                fail(0);
            } else {
                session_->close(engineio::close_reason::parse_error); // W8
            }
            return;
        }
        on_engine_packet(*p);
        return;
    }
    case ws_opcode::binary:
        on_engine_packet({engineio::packet_type::message, true, m.payload});
        return;
    default:
        return;
    }
}

void websocket_connection::on_engine_packet(const engineio::packet& p) {
    if (!probe_) {
        if (session_->is_active(this)) {
            session_->on_packet(p);
        }
        return;
    }
    if (!session_->is_probe(this)) {
        fail(0);
        return;
    }
    switch (session_->on_probe_packet(p)) {
    case engineio::session::probe_action::reply_probe: {
        char header[10];
        auto n = engineio::write_frame_header(header, 0x1, 6);
        control_.push_back(std::string(header, n) + "3probe");
        wake();
        return;
    }
    case engineio::session::probe_action::upgraded:
        probe_ = false; // the session now writes through us (U4)
        wake();
        return;
    case engineio::session::probe_action::abort:
        fail(0); // U5
        return;
    }
}

// One clock read per write, not per packet.
void websocket_connection::observe_latency() {
    std::int64_t now = 0;
    for (const auto& p : batch_) {
        if (p->stamp_ns != 0) {
            if (now == 0) {
                now = std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::steady_clock::now().time_since_epoch()).count();
            }
            shard_.ingest_to_write.observe(std::chrono::nanoseconds(now - p->stamp_ns));
        }
    }
}

asio::awaitable<void> websocket_connection::write_loop() {
    std::vector<asio::const_buffer> buffers;
    std::vector<std::string> converted; // binary packets as "b<base64>" text frames (W4)
    std::vector<std::string> control;   // control frames being written: the reader may queue
                                        // more in control_ meanwhile, never into these
    while (true) {
        if (!probe_ && session_->is_active(this)) {
            session_->take_queue(batch_);
        }
        control.clear();
        control.swap(control_);
        buffers.clear();
        converted.clear();
        std::size_t queued_bytes = 0;
        for (const auto& c : control) {
            buffers.emplace_back(asio::buffer(c));
        }
        for (const auto& p : batch_) {
            queued_bytes += p->bytes.size();
            if (p->binary && base64_binary_) {
                std::string text = "b" + core::base64_encode(p->payload());
                char header[10];
                auto n = engineio::write_frame_header(header, 0x1, text.size());
                converted.push_back(std::string(header, n) + text);
            }
        }
        std::size_t conv = 0;
        for (const auto& p : batch_) {
            if (p->binary && base64_binary_) {
                buffers.emplace_back(asio::buffer(converted[conv++]));
            } else {
                buffers.emplace_back(asio::buffer(p->bytes));
            }
        }
        if (!buffers.empty()) {
            boost::system::error_code ec;
            if (one_frame_per_write_ && buffers.size() > 1) {
                for (const auto& b : buffers) {
                    auto [wec, n] = co_await asio::async_write(socket_, b, nothrow);
                    if ((ec = wec)) {
                        break;
                    }
                    // Let the peer read this frame on its own before the next one.
                    signal_.expires_after(std::chrono::milliseconds(1));
                    co_await signal_.async_wait(nothrow);
                }
            } else {
                auto [wec, n] = co_await asio::async_write(socket_, buffers, nothrow);
                ec = wec;
            }
            session_->on_written(queued_bytes);
            if (!ec) {
                observe_latency();
            }
            batch_.clear();
            if (ec) {
                peer_gone_ = true;
                break;
            }
            continue;
        }
        if (peer_gone_) {
            break;
        }
        bool ended = closing_ || (probe_ && !session_->is_probe(this)) ||
                     (!probe_ && (session_->closed() || !session_->is_active(this)));
        if (ended) {
            // E17: a close frame (with the status code of a protocol error, if any).
            std::string payload;
            if (close_code_ != 0) {
                payload += static_cast<char>(close_code_ >> 8);
                payload += static_cast<char>(close_code_ & 0xff);
            }
            char header[10];
            auto hn = engineio::write_frame_header(header, 0x8, payload.size());
            std::string frame = std::string(header, hn) + payload;
            co_await asio::async_write(socket_, asio::buffer(frame), nothrow);
            boost::system::error_code ignored;
            socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
            closing_ = true;
            break;
        }
        if (!woken_) {
            signal_.expires_at(asio::steady_timer::time_point::max());
            co_await signal_.async_wait(nothrow);
        }
        woken_ = false;
    }
    boost::system::error_code ignored;
    socket_.cancel(ignored); // ends the reader's wait
}

} // namespace kamea::transport
