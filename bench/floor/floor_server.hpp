#pragma once
// kamea-floor: the least a server can do for the fan-out scenario of `bench/run.sh`, to measure
// the floor of server CPU per delivered message on this machine with this load generator.
//
// It speaks just enough of the protocols for `kamea-loadgen --scenario subscribe` and
// `kamea-publish`: the WebSocket upgrade, the Engine.IO open packet, the `/devices` connect,
// the `telemetries` subscription (acked ok, no Management API call) and the ingestion POST
// (answered 202). It trusts its input (the bench tools' own, on loopback): no validation, no
// heartbeat, no limits. Each telemetry becomes one pre-built frame written to every subscriber
// of its device, either with one `send` per recipient (`epoll`) or queued on an io_uring and
// submitted once per loop turn (`uring`). One thread. Not a server for anything else.

#include <liburing.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace kamea::floor {

enum class send_path { epoll, uring };

struct settings {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    std::optional<std::uint16_t> internal_port; // a second port, as for ingestion; both take either
    send_path path = send_path::uring;
    unsigned ring_entries = 4096;
};

struct counters {
    std::uint64_t connections = 0;
    std::uint64_t subscriptions = 0;
    std::uint64_t requests = 0;
    std::uint64_t telemetries = 0;
    std::uint64_t sends = 0;
    std::uint64_t send_errors = 0;
    std::uint64_t submissions = 0;
};

class floor_server {
public:
    explicit floor_server(settings s);
    ~floor_server();
    floor_server(const floor_server&) = delete;
    floor_server& operator=(const floor_server&) = delete;

    std::uint16_t port() const { return port_; }
    std::uint16_t internal_port() const { return internal_port_; }
    // Runs until SIGINT or SIGTERM.
    void run();
    const counters& stats() const { return stats_; }

private:
    struct connection {
        int fd = -1;
        bool websocket = false;
        std::string in;
        std::string device; // the room it joined, if any
    };
    // One telemetry's frame, shared by its recipients until the last send completes.
    struct frame {
        std::string bytes;
        std::uint32_t pending = 0;
    };

    int listen_on(std::uint16_t port, std::uint16_t& bound);
    void accept_all(int listen_fd);
    void on_readable(connection& c);
    // Each returns false when the connection must close.
    bool on_http(connection& c);
    bool on_frames(connection& c);
    bool on_text(connection& c, std::string_view payload);
    std::size_t ingest(std::string_view body); // returns the number of telemetries
    void deliver(frame* f, const std::vector<int>& recipients);
    void send_control(int fd, std::string_view payload);
    void submit_and_reap();
    void close(connection& c);

    settings settings_;
    std::uint16_t port_ = 0;
    std::uint16_t internal_port_ = 0;
    std::vector<int> listen_fds_;
    int epoll_fd_ = -1;
    int signal_fd_ = -1;
    int completions_fd_ = -1; // eventfd: sends that waited for room completed
    io_uring ring_{};
    bool ring_ready_ = false;
    std::unordered_map<int, connection> connections_;
    std::unordered_map<std::string, std::vector<int>> rooms_;
    counters stats_;
};

} // namespace kamea::floor
