#pragma once
// A worker: one thread, one io_context, a share of the connections. It opens its clients at
// the configured pace (rate and handshakes in flight), then keeps them running until stopped.
// Everything it owns is touched only from its thread, except the atomic counters in `stats`
// (read by the control thread) and stop().

#include "loadgen/reader.hpp"
#include "loadgen/scenario.hpp"
#include "loadgen/stats.hpp"
#include "loadgen/ws_codec.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace kamea::loadgen {

// What every client of the process shares, read-only once built.
struct client_settings {
    boost::asio::ip::tcp::endpoint server;
    std::vector<boost::asio::ip::address> sources;
    std::string host_header;
    std::string target;         // "/socket.io/?EIO=4&transport=websocket"
    std::string nsp;            // "/devices"
    std::string connect_packet; // Engine.IO message carrying the namespace CONNECT
    std::chrono::milliseconds handshake_timeout{10000};
    std::size_t max_message = 0;

    static client_settings from(const options& opts);
};

class worker {
public:
    worker(const client_settings& settings, std::unique_ptr<scenario> sc, std::size_t first_index, std::size_t count,
           double rate, std::size_t concurrency);
    worker(const worker&) = delete;
    worker& operator=(const worker&) = delete;
    worker(worker&&) = delete;
    worker& operator=(worker&&) = delete;
    ~worker();

    void run();  // the thread body: returns after stop()
    void stop(); // any thread

    const thread_stats& stats() const { return stats_; }

    // For clients (this worker's thread only).
    const client_settings& settings() const { return settings_; }
    scenario& behaviour() { return *scenario_; }
    thread_stats& stats() { return stats_; }
    mask_source& random() { return random_; }
    boost::asio::io_context::executor_type executor() { return ctx_.get_executor(); }
    // Read buffer shared by every client of the worker: a client reads only once its socket
    // is readable and processes the bytes before it awaits anything, so idle clients hold
    // no buffer.
    std::array<char, 64 * 1024>& scratch() { return scratch_; }
    void handshake_settled(); // a client was established or failed
    // Where connected clients read (this worker's thread only).
    class reader& reader() {
        return reader_;
    }

private:
    boost::asio::awaitable<void> launch();

    const client_settings& settings_;
    std::unique_ptr<scenario> scenario_;
    std::size_t first_index_;
    std::size_t count_;
    double rate_;
    std::size_t concurrency_;
    std::size_t in_flight_ = 0;
    thread_stats stats_;
    mask_source random_;
    std::array<char, 64 * 1024> scratch_{};
    // Destroyed after the members below and before those above: destroying it destroys the
    // suspended client coroutines, which may still touch the members above.
    boost::asio::io_context ctx_{1};
    boost::asio::steady_timer wake_{ctx_};
    // Destroyed before ctx_, so before the clients: they close their sockets without it.
    class reader reader_ {
        ctx_
    };
};

} // namespace kamea::loadgen
