#pragma once
// One WebSocket carrying an Engine.IO session (protocol.md W*), or probing an upgrade (U*).
//
// Callback-driven rather than a coroutine, to keep an idle connection small: it holds one
// pending "readable" wait and no buffers. A read goes into the shard's shared buffer and is
// processed before anything else runs on the shard. Writes are batched per loop turn: wake()
// puts the connection on its shard's flush list, and one task per turn queues a gather send
// of everything queued for each listed connection on the shard's send ring, which hands all
// of them to the kernel in one submission (style.md section 2: fewer syscalls across
// sockets). Without a ring (io_uring refused or turned off), each connection writes through
// Asio. Shard-local.

#include "engineio/session.hpp"
#include "transport/send_ring.hpp"
#include "transport/shard.hpp"
#include "transport/websocket_frame.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <memory>
#include <string>
#include <vector>

namespace kamea::transport {

class websocket_connection final : public engineio::transport_link,
                                   public send_target,
                                   public std::enable_shared_from_this<websocket_connection> {
public:
    websocket_connection(shard& sh, boost::asio::ip::tcp::socket socket, std::shared_ptr<engineio::session> session,
                         bool probe, bool base64_binary, bool one_frame_per_write = false);
    ~websocket_connection() override;

    void wake() override;

    // Writes the handshake response, then runs until the connection ends; `leftover` holds
    // bytes read past the HTTP request. The connection keeps itself alive meanwhile.
    void start(std::string handshake_response, std::string leftover);

    // Called by the shard's flush task, once per loop turn for each woken connection.
    void on_flush_turn() {
        flush_listed_ = false;
        flush();
    }

private:
    void flush();
    void read_some();
    void on_readable(const boost::system::error_code& ec);
    std::uint16_t consume(char* data, std::size_t size);
    void on_frame(const ws_message& m);
    void on_engine_message(const ws_message& m);
    void queue_control(std::uint8_t opcode, std::string_view payload);
    void fail(std::uint16_t code);
    void write(std::size_t queued_bytes);
    void write_through_asio(std::size_t skip);
    void on_sent(int result) override;
    void on_write(const boost::system::error_code& ec);
    bool ended() const;
    void send_close_frame();
    void linger();
    void drain();
    void observe_latency();

    // What only some connections need for a while (the handshake's write, control frames,
    // base64 conversions, conformance pacing, the close's linger): allocated when first
    // needed, so that an idle connection holds one pointer for all of it.
    struct rare_state {
        std::vector<std::string> control; // pong / close / 3probe frames to send
        std::vector<std::string> sending_control;
        std::vector<std::string> converted;           // W4: binary packets as "b<base64>" text frames
        std::vector<boost::asio::const_buffer> paced; // conformance: frames still to write one by one
        std::unique_ptr<boost::asio::steady_timer> pace_timer;
        std::unique_ptr<boost::asio::steady_timer> linger_timer; // only once the close frame is out
        std::size_t lingered = 0;                                // bytes dropped since
    };
    rare_state& rare();
    bool has_control() const { return rare_ && !rare_->control.empty(); }

    // Bound to the shard's io_context rather than to any executor: the socket, and the
    // readable-wait every idle connection keeps pending, are 48 bytes smaller each.
    using socket_type = boost::asio::basic_stream_socket<boost::asio::ip::tcp, boost::asio::io_context::executor_type>;

    shard& shard_;
    socket_type socket_;
    std::shared_ptr<engineio::session> session_;
    frame_parser parser_;
    bool probe_;
    bool base64_binary_;
    // Conformance mode only: the official suites' raw clients register a listener after each
    // message, so frames written together can be missed; the reference writes the first
    // packet of a burst alone. Production batches.
    bool one_frame_per_write_;
    bool started_ = false;
    bool writing_ = false;      // a write is in flight
    bool flush_listed_ = false; // on the shard's flush list
    bool reading_ = false;      // a readable-wait is pending
    bool peer_gone_ = false;
    bool closing_ = false; // send a close frame and stop
    bool close_sent_ = false;
    bool on_ring_ = false; // the write in flight is on the shard's send ring
    std::uint32_t ring_ticket_ = 0;
    std::size_t write_bytes_ = 0;           // bytes of the write in flight
    std::size_t write_queued_ = 0;          // of which queued by the session (for its accounting)
    std::uint16_t close_code_ = 0;          // 0 = close frame without a status code (E17)
    std::vector<engineio::wire_ptr> batch_; // packets of the write in flight
    std::vector<iovec> iov_;                // the frames of the write in flight (capacity kept between writes)
    msghdr msg_{};
    std::unique_ptr<rare_state> rare_;
};

} // namespace kamea::transport
