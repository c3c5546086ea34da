#pragma once
// The RabbitMQ bus (contract section 7, ../shared/docs/bus.md): a core::bus over rabbitmq-c
// 0.11. It runs threads of its own (rabbitmq-c is blocking, one connection per thread):
// a consumer connection (exclusive server-named queue, per-pair bindings, prefetch with
// multiple acks, heartbeats, an idle probe) and a publisher connection (publisher confirms),
// so that the broker's flow control on publishing never stalls consumption. The wanted set
// of routing keys is the truth, replayed in batches after every reconnect.

#include "core/bus.hpp"
#include "core/histogram.hpp"

#include <atomic>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace kamea::bus {

struct amqp_options {
    std::vector<std::string> urls; // amqp://user:pass@host:port/vhost or amqps://..., tried in turn
    std::string exchange = "telemetries";
    std::string exchange_type = "direct"; // or "topic"
    std::size_t queue_max_length = 100000;
    unsigned prefetch = 200;
    std::size_t max_bindings = 10000;
    std::size_t max_message_bytes = std::size_t{1024} * 1024; // larger bus messages are dropped, counted
    std::chrono::seconds heartbeat{10};
    std::chrono::milliseconds unbind_linger{2000};
    std::chrono::milliseconds probe_interval{5000};
    std::chrono::milliseconds reconnect_min{100};
    std::chrono::milliseconds reconnect_max{10000};
    std::string ca_file;   // amqps://: PEM CA (empty = system CAs)
    std::string cert_file; // amqps://: client certificate (optional)
    std::string key_file;
};

// Counters for /metrics, written by the bus threads, read at scrape time.
struct amqp_stats {
    std::atomic<std::uint64_t> reconnects{0};
    std::atomic<std::uint64_t> deliveries_in{0};
    std::atomic<std::uint64_t> malformed_dropped{0};
    std::atomic<std::uint64_t> publish_confirms{0};
    std::atomic<std::uint64_t> publish_nacks{0};
    std::atomic<std::uint64_t> bindings_refused{0};
    std::atomic<std::int64_t> bindings{0}; // keys bound on the broker now
    std::atomic<std::uint64_t> unbinds{0}; // unbind-oks received (linger ends and stop())
    std::atomic<std::uint64_t> probes_lost{0};
    core::histogram bind_latency; // seconds from watch() to the broker's bind-ok
};

// Throws std::invalid_argument with a clear message (no password in it) for a bad option.
std::unique_ptr<core::bus> make_amqp_bus(amqp_options options, amqp_stats& stats);

// Splits "url1,url2" and checks each (scheme, host); throws std::invalid_argument.
std::vector<std::string> parse_url_list(const std::string& list);
// The URL with its password replaced by "***", for logs and /health.
std::string redact_url(const std::string& url);

// The routing key of a pair: "<tenantId>.<deviceId>", or, when that exceeds AMQP's 255
// bytes, a fixed-length form producers can compute too (docs/bus.md).
std::string routing_key(const core::device_key& key);

} // namespace kamea::bus
