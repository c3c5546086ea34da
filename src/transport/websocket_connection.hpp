#pragma once
// One WebSocket carrying an Engine.IO session (protocol.md W*), or probing an upgrade (U*).
// Reads with the shard's shared buffer only when the socket is readable, so an idle
// connection holds no read buffer; writes everything queued in one gather write.

#include "engineio/session.hpp"
#include "transport/shard.hpp"
#include "transport/websocket_frame.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <memory>
#include <string>
#include <vector>

namespace kamea::transport {

class websocket_connection final : public engineio::transport_link {
public:
    websocket_connection(shard& sh,
                         boost::asio::ip::tcp::socket socket,
                         std::shared_ptr<engineio::session> session,
                         bool probe,
                         bool base64_binary,
                         bool one_frame_per_write = false);
    ~websocket_connection() override;

    void wake() override;

    // Writes the handshake response, then runs until the connection ends; `leftover` holds
    // bytes read past the HTTP request.
    boost::asio::awaitable<void> run(std::string handshake_response, std::string leftover);

private:
    boost::asio::awaitable<void> read_loop(std::string leftover);
    boost::asio::awaitable<void> write_loop();
    std::uint16_t consume(char* data, std::size_t size);
    void on_frame(const ws_message& m);
    void on_engine_packet(const engineio::packet& p);
    void queue_control(ws_opcode op, std::string_view payload);
    void fail(std::uint16_t code);
    void observe_latency();

    shard& shard_;
    boost::asio::ip::tcp::socket socket_;
    std::shared_ptr<engineio::session> session_;
    bool probe_;
    bool base64_binary_;
    // Conformance mode only: the official suites' raw clients register a listener after each
    // message, so frames written together can be missed; the reference writes the first
    // packet alone. Production batches.
    bool one_frame_per_write_;
    frame_parser parser_;
    boost::asio::steady_timer signal_;
    bool woken_ = false;
    bool peer_gone_ = false;
    bool closing_ = false;          // send a close frame and stop
    std::uint16_t close_code_ = 0;  // 0 = close frame without a status code (E17)
    std::vector<std::string> control_;
    std::vector<engineio::wire_ptr> batch_;
    std::string scratch_;
};

} // namespace kamea::transport
