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
// submitted once per loop turn (`uring`). Like kamea-wss, one loop per thread (the kernel
// spreads the connections with SO_REUSEPORT), and a telemetry reaches the other loops' subscribers
// through their inboxes. Not a server for anything else.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace kamea::floor {

enum class send_path { epoll, uring };

struct settings {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    std::optional<std::uint16_t> internal_port; // a second port, as for ingestion; both take either
    send_path path = send_path::uring;
    unsigned ring_entries = 4096;
    unsigned threads = 1;
};

struct counters {
    std::uint64_t connections = 0;
    std::uint64_t subscriptions = 0;
    std::uint64_t requests = 0;
    std::uint64_t telemetries = 0;
    std::uint64_t sends = 0;
    std::uint64_t send_errors = 0;
    std::uint64_t submissions = 0;

    counters& operator+=(const counters& o);
};

class floor_loop;

class floor_server {
public:
    explicit floor_server(settings s);
    ~floor_server();
    floor_server(const floor_server&) = delete;
    floor_server& operator=(const floor_server&) = delete;

    std::uint16_t port() const { return port_; }
    std::uint16_t internal_port() const { return internal_port_; }
    // Runs the loops until SIGINT or SIGTERM (blocked in every thread, taken by this one).
    void run();
    // Every loop's counters, added up; after run().
    counters stats() const;

private:
    std::uint16_t port_ = 0;
    std::uint16_t internal_port_ = 0;
    int stop_fd_ = -1; // an eventfd every loop watches: readable once the run must end
    std::vector<std::unique_ptr<floor_loop>> loops_;
};

} // namespace kamea::floor
