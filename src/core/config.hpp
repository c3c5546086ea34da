#pragma once
// The service's settings. Each one is a command-line flag and a WSS_ environment variable,
// declared once in config.cpp; that single table feeds --help and docs/configuration.md.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kamea::core {

struct config {
    // Listeners (contract section 2).
    std::string public_host = "0.0.0.0";
    std::uint16_t public_port = 3000;
    std::string internal_host = "127.0.0.1";
    std::uint16_t internal_port = 3001;
    unsigned threads = 0; // 0 = one event loop per core
    // "fill": a new connection goes to the first loop that is not busy, and an ingestion
    // request leaves a busy loop for an idle one; "spread": connections take turns.
    std::string placement = "fill";

    // Engine.IO / Socket.IO protocol (protocol.md E11, K6).
    std::chrono::milliseconds ping_interval{25000};
    std::chrono::milliseconds ping_timeout{20000};
    std::size_t max_payload = 1000000;
    std::chrono::milliseconds upgrade_timeout{10000};
    std::chrono::milliseconds connect_timeout{45000};
    std::vector<std::string> cors_origins; // empty = no CORS headers; "*" = any origin

    // Limits (contract section 9).
    std::chrono::milliseconds handshake_timeout{10000};
    std::size_t max_send_queue = std::size_t{4} * 1024 * 1024;
    std::size_t conflate_after = 0;              // bytes; 0 = off
    std::size_t max_polling_sessions_per_ip = 0; // 0 = unlimited
    bool io_uring = true;                        // batch each loop turn's WebSocket sends through io_uring
    std::string cookie;                          // H3: sid cookie on the polling handshake (empty = none)
    std::size_t max_connections = 100000;
    std::size_t max_connections_per_ip = 0;                // 0 = unlimited
    std::size_t max_header_bytes = std::size_t{16} * 1024; // a request's line and headers
    std::size_t max_headers = 100;                         // header fields in one request

    // Management API (contract section 6).
    std::string management_api_url; // e.g. http://127.0.0.1:3002; empty = not configured
    std::chrono::milliseconds management_api_timeout{5000};
    std::string management_api_ca; // PEM file of a private CA for HTTPS
    std::size_t management_api_max_concurrency = 64;
    unsigned authz_cache_ttl = 0;   // seconds; 0 = no cache
    unsigned reauth_interval = 300; // seconds; 0 = off

    // Subscriptions and ingestion (contract sections 4 and 7).
    std::size_t max_subscriptions_per_socket = 100;
    unsigned last_value_ttl = 10; // seconds a device's last value outlives its subscribers
    std::size_t last_value_budget = std::size_t{64} * 1024 * 1024; // bytes of last values, whole process
    std::size_t metrics_max_tenants = 100;                         // tenants with their own /metrics series
    unsigned recovery_window = 0;                                  // seconds a lost socket may be recovered; 0 = off
    std::size_t recovery_budget =
        std::size_t{64} * 1024 * 1024;      // bytes of telemetries kept for recovery, whole process
    bool core_dumps = false;                // a dump would hold every live token
    unsigned max_event_rate = 100;          // events a second per /devices socket; 0 = no limit
    unsigned event_burst = 200;             // events a socket may send at once within that rate
    std::vector<std::string> ingest_tokens; // any of them; empty = no token required; secrets
    std::string ingest_token_file;          // tokens, one per line (kept off the command line)
    std::size_t max_ingest_body = std::size_t{1024} * 1024;

    // The bus (contract section 7): RabbitMQ when amqp_url is set, else in process.
    std::string amqp_url;      // comma-separated nodes, amqp:// or amqps://; a secret
    std::string amqp_url_file; // a file holding amqp_url (a command line is readable in /proc)
    std::string amqp_exchange = "telemetries";
    std::string amqp_exchange_type = "direct"; // or "topic"
    std::size_t amqp_queue_max_length = 100000;
    unsigned amqp_prefetch = 200;
    std::size_t amqp_max_bindings = 10000; // measured: docs/performance.md, bus section
    unsigned amqp_heartbeat = 10;          // seconds
    std::chrono::milliseconds amqp_unbind_linger{2000};
    std::chrono::milliseconds amqp_probe_interval{5000};
    std::string amqp_ca;             // PEM CA for amqps:// (default: system CAs)
    std::string amqp_cert;           // PEM client certificate for amqps:// (optional)
    std::string amqp_key;            // PEM private key of amqp_cert
    bool ready_requires_bus = false; // contract section 8

    // Operations.
    std::string doc_dir; // empty = "doc" next to the executable
    std::string log_level = "info";
    std::chrono::milliseconds shutdown_grace{10000};

    // Test-only: serve what the official protocol test suites expect (protocol.md K7).
    bool conformance = false;
    bool test_namespaces = false; // the echo namespaces of conformance mode, on the production write path
};

// Parses argv and WSS_* variables. Prints help and exits 0 on --help; throws
// config_error with a clear message on an unknown flag or a bad value.
struct config_error : std::runtime_error {
    int exit_code;
    config_error(const std::string& what, int code) : std::runtime_error(what), exit_code(code) {}
};

config parse_config(int argc, const char* const* argv);

// The --help text as a Markdown table (for docs/configuration.md).
std::string config_markdown();

} // namespace kamea::core
