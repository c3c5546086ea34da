#pragma once
// One event loop of kamea-floor (floor_server.hpp): its listeners, connections, rooms, send
// ring and the inbox through which the other loops hand it telemetries.

#include "floor/floor_server.hpp"
#include "transport/websocket_frame.hpp"

#include <liburing.h>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace kamea::floor {

class floor_loop {
public:
    // Listens on `port` and, if set, `internal_port` with SO_REUSEPORT (0: a free port, which
    // the first loop picks and the others then share); stops once `stop_fd` is readable.
    floor_loop(const settings& s, std::uint16_t port, std::optional<std::uint16_t> internal_port, int stop_fd);
    ~floor_loop();
    floor_loop(const floor_loop&) = delete;
    floor_loop& operator=(const floor_loop&) = delete;

    std::uint16_t port() const { return port_; }
    std::uint16_t internal_port() const { return internal_port_; }
    void set_peers(std::vector<floor_loop*> peers) { peers_ = std::move(peers); }
    void run();
    const counters& stats() const { return stats_; }

private:
    struct connection {
        int fd = -1;
        std::string http_in; // bytes of HTTP requests not yet answered
        // Set once upgraded: client frames are read with kamea-wss's own parser.
        std::unique_ptr<transport::frame_parser> frames;
        std::string device; // the room it joined, if any
    };
    // One telemetry's frame, shared by this loop's recipients until the last send completes.
    struct frame {
        std::string bytes;
        std::uint32_t pending = 0;
    };
    // (deviceId, Socket.IO packet text) of telemetries ingested by another loop.
    using handoff = std::vector<std::pair<std::string, std::string>>;

    int listen_on(std::uint16_t port, std::uint16_t& bound);
    void accept_all(int listen_fd);
    void on_readable(connection& c);
    // Each returns false when the connection must close.
    bool on_http(connection& c, std::string_view bytes);
    bool on_frames(connection& c, char* data, std::size_t size);
    bool on_text(connection& c, std::string_view payload);
    std::size_t ingest(std::string_view body); // returns the number of telemetries
    void hand_over(handoff batch);             // called by another loop's thread
    void drain_inbox();
    void deliver(std::string_view device, std::string_view packet);
    void submit_and_reap();
    void release(frame* f); // drops one reference: the last one frees the frame
    void send_control(int fd, std::string_view payload);
    void close(connection& c);

    settings settings_;
    std::uint16_t port_ = 0;
    std::uint16_t internal_port_ = 0;
    std::vector<int> listen_fds_;
    int epoll_fd_ = -1;
    int stop_fd_ = -1;
    int inbox_fd_ = -1;       // eventfd: another loop handed over telemetries
    int completions_fd_ = -1; // eventfd: sends that waited for room completed
    io_uring ring_{};
    bool ring_ready_ = false;
    std::unordered_map<int, connection> connections_;
    std::unordered_map<std::string, std::vector<int>> rooms_;
    std::vector<floor_loop*> peers_;
    std::mutex inbox_mutex_;
    handoff inbox_;
    counters stats_;
};

} // namespace kamea::floor
