#pragma once
// One simulated stock client (socket.io-client v4 with transports: ["websocket"]): TCP
// connect from a chosen source address, WebSocket upgrade on
// `<path>?EIO=4&transport=websocket`, Engine.IO open packet, namespace CONNECT with
// auth {token}, then heartbeats (server ping `2` -> `3`) and whatever the scenario does.
// Lives in its coroutine's frame on its worker's thread. The handshake runs on Asio; once
// connected, the socket moves to the worker's reader (reader.hpp), which calls back here.

#include "loadgen/reader.hpp"
#include "loadgen/ws_codec.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace kamea::loadgen {

class worker;

class client final : public reader_client {
public:
    client(worker& w, std::size_t index);
    ~client();
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    // Runs until the connection ends or the worker stops.
    boost::asio::awaitable<void> run();

    // Queues `42<nsp>,[id]<args>`; `args` is a JSON array such as ["telemetries",{...}].
    void emit(std::string_view args, std::optional<std::uint64_t> ack_id = std::nullopt);

    std::size_t index() const { return index_; }
    worker& owner() { return worker_; }

private:
    enum class phase : std::uint8_t { connecting, upgrading, opening, joining, connected, closed };

    boost::asio::awaitable<bool> establish();
    // Hands the socket to the worker's reader and waits until the client ends.
    boost::asio::awaitable<void> stay_connected();
    void on_readable() override;
    void on_writable() override;
    // Writes what `out_` holds without waiting; the reader reports room for the rest.
    void write_pending();
    // Waits until readable, then reads what is there into the worker's scratch buffer.
    boost::asio::awaitable<std::pair<std::size_t, boost::system::error_code>> read_available();
    boost::asio::awaitable<bool> flush();

    void on_bytes(std::string_view bytes);
    void on_frame(ws_opcode op, std::string_view payload);
    void on_engineio(std::string_view packet);
    void on_socketio(std::string_view packet);
    void send_frame(ws_opcode op, std::string_view payload);
    // Records why the client ended (once): a failure before it was established, a drop after.
    void end(std::string reason);

    worker& worker_;
    std::size_t index_;
    boost::asio::ip::tcp::socket socket_; // until connected
    int fd_ = -1;                         // once connected: the socket, taken from Asio
    bool in_reader_ = false;
    bool waiting_for_room_ = false;
    boost::asio::steady_timer ended_; // cancelled when a connected client ends
    frame_decoder decoder_;
    std::string out_;
    std::chrono::steady_clock::time_point started_;
    phase phase_ = phase::connecting;
    bool close_sent_ = false;
};

} // namespace kamea::loadgen
