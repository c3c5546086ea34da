#include "core/config.hpp"

#include <CLI/CLI.hpp>

#include <fstream>
#include <sstream>
#include <string_view>

namespace kamea::core {
namespace {

// Milliseconds settings are plain integers on the command line.
struct ms_binding {
    std::chrono::milliseconds* target;
    long long value;
};

struct option_row {
    std::string flag;
    std::string env;
    std::string description;
    std::string default_value;
};

// Declares every option on `app`, bound to `c`, and records a row per option for the docs.
std::vector<option_row> declare(CLI::App& app, config& c, std::vector<ms_binding>& ms) {
    std::vector<option_row> rows;
    auto env_of = [](const std::string& name) {
        std::string env = "WSS_";
        for (char ch : name) {
            env += ch == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        }
        return env;
    };
    auto add = [&](const std::string& name, auto& target, const std::string& desc) {
        auto* opt = app.add_option("--" + name, target, desc)->envname(env_of(name));
        opt->capture_default_str();
        rows.push_back({"--" + name, env_of(name), desc, opt->get_default_str()});
        return opt;
    };
    auto add_ms = [&](const std::string& name, std::chrono::milliseconds& target, const std::string& desc) {
        ms.push_back({&target, static_cast<long long>(target.count())});
        auto* opt = app.add_option("--" + name, ms.back().value, desc + " (ms)")
                        ->envname(env_of(name))
                        ->check(CLI::Range(1LL, 3600LL * 1000 * 24));
        opt->capture_default_str();
        rows.push_back({"--" + name, env_of(name), desc + " (ms)", opt->get_default_str()});
    };

    add("public-host", c.public_host, "Address of the public listener (Socket.IO, /doc)");
    add("public-port", c.public_port, "Port of the public listener (0 = any free port)");
    add("internal-host", c.internal_host, "Address of the internal listener (ingest, health)");
    add("internal-port", c.internal_port, "Port of the internal listener (0 = any free port)");
    add("threads", c.threads, "Event loops (0 = one per core)")->check(CLI::Range(0U, 64U));
    add("placement", c.placement,
        "How connections are spread over the event loops: fill (the first loop that is not busy "
        "takes them, so one loop carries an everyday load alone) or spread (in turn)")
        ->check(CLI::IsMember({"fill", "spread"}));
    add_ms("ping-interval", c.ping_interval, "Engine.IO heartbeat interval");
    add_ms("ping-timeout", c.ping_timeout, "Engine.IO heartbeat timeout");
    add("max-payload", c.max_payload, "Largest Engine.IO message or polling POST body (bytes)")
        ->check(CLI::Range(std::size_t{64}, std::size_t{100} * 1024 * 1024));
    add_ms("upgrade-timeout", c.upgrade_timeout, "Time allowed to finish a transport upgrade");
    add_ms("connect-timeout", c.connect_timeout,
           "Time allowed for a client to join a namespace after opening a session");
    add("cors-origins", c.cors_origins, "Origins allowed by CORS ('*' for any; credentials only for listed origins)")
        ->delimiter(',');
    add_ms("handshake-timeout", c.handshake_timeout,
           "Time allowed to send one HTTP request (headers and body), and to idle between two on one "
           "connection (answers announce a second less in Keep-Alive: timeout=)");
    add("max-send-queue", c.max_send_queue, "Bytes queued for one client before it is disconnected as too slow")
        ->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 34));
    add("conflate-after", c.conflate_after,
        "Bytes queued for one client past which its telemetries are conflated, the newest per device "
        "replacing the queued one (0 = off; below --max-send-queue to matter)")
        ->check(CLI::Range(std::size_t{0}, std::size_t{1} << 34));
    add("cookie", c.cookie,
        "Name of a cookie set to the session id on the polling handshake, for sticky load "
        "balancing (empty = none)");
    add("io-uring", c.io_uring,
        "Hand each event loop turn's WebSocket sends to the kernel in one io_uring submission "
        "(false = one send per socket; also the fallback when the kernel refuses io_uring)");
    add("max-connections", c.max_connections, "Most TCP connections on the public listener");
    add("max-connections-per-ip", c.max_connections_per_ip, "Most connections from one client address (0 = unlimited)");
    add("max-header-bytes", c.max_header_bytes,
        "Most bytes of an HTTP request's line and headers, on both listeners (past it: 431)")
        ->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 20));
    add("max-headers", c.max_headers, "Most header fields in one HTTP request, on both listeners (past it: 431)")
        ->check(CLI::Range(std::size_t{8}, std::size_t{10000}));
    add("max-polling-sessions-per-ip", c.max_polling_sessions_per_ip,
        "Most live sessions opened over HTTP long-polling from one client address (they hold state "
        "without a connection; 0 = unlimited)");
    add("management-api-url", c.management_api_url,
        "Base URL of the Management API (http or https); empty = every check fails");
    add_ms("management-api-timeout", c.management_api_timeout, "Time allowed for one authorization check");
    add("management-api-ca", c.management_api_ca,
        "PEM file of the CA that signs the Management API's certificate (default: system CAs)");
    add("management-api-max-concurrency", c.management_api_max_concurrency,
        "Most authorization requests in flight at once, per event loop")
        ->check(CLI::Range(std::size_t{1}, std::size_t{10000}));
    add("authz-cache-ttl", c.authz_cache_ttl, "Seconds an allowed answer is reused (0 = off)");
    add("reauth-interval", c.reauth_interval, "Seconds between re-authorizations of each subscription (0 = off)");
    add("max-subscriptions-per-socket", c.max_subscriptions_per_socket, "Most device subscriptions one socket may hold")
        ->check(CLI::Range(std::size_t{1}, std::size_t{100000}));
    add("last-value-ttl", c.last_value_ttl,
        "Seconds a device's newest telemetry is kept (and its bus binding held) after its last "
        "subscriber on an event loop left, for subscriptions that ask for it with \"last\": true")
        ->check(CLI::Range(0U, 86400U));
    add("last-value-budget", c.last_value_budget,
        "Bytes of newest telemetries kept for \"last\": true, whole process (past it a value is not kept)")
        ->check(CLI::Range(std::size_t{0}, std::size_t{1} << 34));
    add("metrics-max-tenants", c.metrics_max_tenants,
        "Tenants with /metrics series of their own (telemetries in, messages out, subscriptions): the "
        "first seen; later ones are counted under tenant=\"(other)\" (0 = no per-tenant series)")
        ->check(CLI::Range(std::size_t{0}, std::size_t{100000}));
    add("recovery-window", c.recovery_window,
        "Seconds a /devices socket lost with its transport may be recovered by the stock client's "
        "connection state recovery: its subscriptions restored, what it missed replayed, each "
        "telemetry carrying an offset as its last argument (0 = off)")
        ->check(CLI::Range(0U, 86400U));
    add("recovery-budget", c.recovery_budget,
        "Bytes of telemetries kept for recovery, whole process (past it the oldest go; a socket "
        "that missed one of them is not recovered)")
        ->check(CLI::Range(std::size_t{0}, std::size_t{1} << 34));
    add("max-event-rate", c.max_event_rate,
        "Events a second one /devices socket may send (past it: bad_request; a socket that goes on, "
        "--event-burst refusals in a row, is disconnected; 0 = no limit)")
        ->check(CLI::Range(0U, 1000000U));
    add("event-burst", c.event_burst, "Events a /devices socket may send at once within --max-event-rate")
        ->check(CLI::Range(1U, 1000000U));
    add("ingest-token", c.ingest_tokens,
        "Bearer token(s) accepted by POST /internal/v1/telemetries, comma-separated for a rotation "
        "(empty = none required)")
        ->delimiter(',');
    add("ingest-token-file", c.ingest_token_file,
        "File of ingest tokens, one per line (keeps them off the command line)");
    add("max-ingest-body", c.max_ingest_body, "Largest ingestion request body (bytes)")
        ->check(CLI::Range(std::size_t{64}, std::size_t{1} << 30));
    add("amqp-url", c.amqp_url,
        "RabbitMQ node(s) of the telemetry bus, comma-separated (amqp:// or amqps://; empty = "
        "in-process bus, no broker)");
    add("amqp-url-file", c.amqp_url_file, "File holding --amqp-url (keeps the password off the command line)");
    add("amqp-exchange", c.amqp_exchange, "Exchange telemetries are published to and consumed from");
    add("amqp-exchange-type", c.amqp_exchange_type, "Type of that exchange, declared if missing")
        ->check(CLI::IsMember({"direct", "topic"}));
    add("amqp-queue-max-length", c.amqp_queue_max_length,
        "Most messages waiting in this instance's queue (the oldest are dropped past it)")
        ->check(CLI::Range(std::size_t{1}, std::size_t{100000000}));
    add("amqp-prefetch", c.amqp_prefetch, "Unacknowledged deliveries the broker may send ahead")
        ->check(CLI::Range(1U, 65535U));
    add("amqp-max-bindings", c.amqp_max_bindings,
        "Most devices this instance binds on the broker; past it subscriptions fail")
        ->check(CLI::Range(std::size_t{1}, std::size_t{10000000}));
    add("amqp-heartbeat", c.amqp_heartbeat, "AMQP heartbeat (seconds)")->check(CLI::Range(1U, 600U));
    add_ms("amqp-unbind-linger", c.amqp_unbind_linger,
           "Time a device stays bound after its last local subscriber left");
    add_ms("amqp-probe-interval", c.amqp_probe_interval,
           "Quiet time after which the instance checks that the broker still routes to it");
    add("amqp-ca", c.amqp_ca, "PEM file of the CA that signs the broker's certificate (amqps://)");
    add("amqp-cert", c.amqp_cert, "PEM client certificate for amqps:// (optional)");
    add("amqp-key", c.amqp_key, "PEM private key of --amqp-cert");
    add("ready-requires-bus", c.ready_requires_bus,
        "Answer 503 on /health/ready while the bus is down (off: a shared broker must not take "
        "every replica out of the balancer)");
    add("core-dumps", c.core_dumps,
        "Let the process dump core (off: a dump would hold every live bearer token; also keeps "
        "ptrace and /proc/<pid>/mem closed to other processes of the same user)");
    add("doc-dir", c.doc_dir, "Directory of the /doc page and AsyncAPI files (empty = doc/ next to the executable)");
    add("log-level", c.log_level, "Log level")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
    add_ms("shutdown-grace", c.shutdown_grace, "Time to drain clients on SIGTERM");
    auto* conf =
        app.add_flag("--conformance", c.conformance, "TEST ONLY: serve what the official protocol test suites expect")
            ->envname("WSS_CONFORMANCE");
    rows.push_back({"--conformance", "WSS_CONFORMANCE", conf->get_description(), "false"});
    auto* test_ns = app.add_flag("--test-namespaces", c.test_namespaces,
                                 "TEST ONLY: the echo namespaces \"/\" and \"/custom\" of --conformance, with "
                                 "production writes (no pacing, no /engine.io/ echo)")
                        ->envname("WSS_TEST_NAMESPACES");
    rows.push_back({"--test-namespaces", "WSS_TEST_NAMESPACES", test_ns->get_description(), "false"});
    return rows;
}

} // namespace

config parse_config(int argc, const char* const* argv) {
    config c;
    std::vector<ms_binding> ms;
    ms.reserve(32); // bindings hold pointers into this vector: no reallocation allowed
    CLI::App app{"kamea-wss: real-time IoT data over Socket.IO"};
    app.name("kamea-wss");
    declare(app, c, ms);
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
        throw config_error(app.help(), 0);
    } catch (const CLI::ParseError& e) {
        throw config_error(std::string("kamea-wss: ") + e.what() + "\nRun with --help for the list.",
                           e.get_exit_code() == 0 ? 2 : e.get_exit_code());
    }
    for (auto& b : ms) {
        *b.target = std::chrono::milliseconds(b.value);
    }
    // A cookie name is an HTTP token (RFC 6265 section 4.1.1).
    for (char ch : c.cookie) {
        auto u = static_cast<unsigned char>(ch);
        if (u <= 32 || u >= 127 || std::string_view("()<>@,;:\\\"/[]?={}").find(ch) != std::string_view::npos) {
            throw config_error("kamea-wss: --cookie: not a valid cookie name: " + c.cookie, 2);
        }
    }
    if (!c.ingest_token_file.empty()) {
        std::ifstream in(c.ingest_token_file);
        if (!in) {
            throw config_error("kamea-wss: --ingest-token-file: cannot read " + c.ingest_token_file, 2);
        }
        for (std::string line; std::getline(in, line);) {
            while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) {
                line.pop_back();
            }
            if (!line.empty()) {
                c.ingest_tokens.push_back(line);
            }
        }
        if (c.ingest_tokens.empty()) {
            throw config_error("kamea-wss: --ingest-token-file: no token in " + c.ingest_token_file, 2);
        }
    }
    for (const auto& t : c.ingest_tokens) {
        if (t.empty()) {
            throw config_error("kamea-wss: --ingest-token: empty token", 2);
        }
    }
    if (!c.amqp_url_file.empty()) {
        if (!c.amqp_url.empty()) {
            throw config_error("kamea-wss: --amqp-url and --amqp-url-file: give one of them", 2);
        }
        std::ifstream in(c.amqp_url_file);
        std::stringstream text;
        text << in.rdbuf();
        if (!in) {
            throw config_error("kamea-wss: --amqp-url-file: cannot read " + c.amqp_url_file, 2);
        }
        c.amqp_url = text.str();
        while (!c.amqp_url.empty() && std::isspace(static_cast<unsigned char>(c.amqp_url.back()))) {
            c.amqp_url.pop_back();
        }
    }
    for (const auto& o : c.cors_origins) {
        if (o.empty()) {
            throw config_error("kamea-wss: --cors-origins: empty origin", 2);
        }
    }
    return c;
}

std::string config_markdown() {
    config c;
    std::vector<ms_binding> ms;
    ms.reserve(32);
    CLI::App app;
    auto rows = declare(app, c, ms);
    std::ostringstream out;
    out << "| flag | variable | default | meaning |\n| --- | --- | --- | --- |\n";
    for (const auto& r : rows) {
        bool none = r.default_value.empty() || r.default_value == "[]";
        out << "| `" << r.flag << "` | `" << r.env << "` | "
            << (none ? std::string("(none)") : "`" + r.default_value + "`") << " | " << r.description << " |\n";
    }
    return out.str();
}

} // namespace kamea::core
