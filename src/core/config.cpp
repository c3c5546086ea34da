#include "core/config.hpp"

#include <CLI/CLI.hpp>

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
    auto add_ms = [&](const std::string& name, std::chrono::milliseconds& target,
                      const std::string& desc) {
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
    add_ms("ping-interval", c.ping_interval, "Engine.IO heartbeat interval");
    add_ms("ping-timeout", c.ping_timeout, "Engine.IO heartbeat timeout");
    add("max-payload", c.max_payload, "Largest Engine.IO message or polling POST body (bytes)")
        ->check(CLI::Range(std::size_t{64}, std::size_t{100} * 1024 * 1024));
    add_ms("upgrade-timeout", c.upgrade_timeout, "Time allowed to finish a transport upgrade");
    add_ms("connect-timeout", c.connect_timeout,
           "Time allowed for a client to join a namespace after opening a session");
    add("cors-origins", c.cors_origins,
        "Origins allowed by CORS ('*' for any; credentials only for listed origins)")
        ->delimiter(',');
    add_ms("handshake-timeout", c.handshake_timeout,
           "Time allowed to send one HTTP request (headers and body)");
    add("max-send-queue", c.max_send_queue,
        "Bytes queued for one client before it is disconnected as too slow")
        ->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 34));
    add("cookie", c.cookie,
        "Name of a cookie set to the session id on the polling handshake, for sticky load "
        "balancing (empty = none)");
    add("io-uring", c.io_uring,
        "Hand each event loop turn's WebSocket sends to the kernel in one io_uring submission "
        "(false = one send per socket; also the fallback when the kernel refuses io_uring)");
    add("max-connections", c.max_connections, "Most TCP connections on the public listener");
    add("max-connections-per-ip", c.max_connections_per_ip,
        "Most connections from one client address (0 = unlimited)");
    add("management-api-url", c.management_api_url,
        "Base URL of the Management API (http or https); empty = every check fails");
    add_ms("management-api-timeout", c.management_api_timeout,
           "Time allowed for one authorization check");
    add("management-api-ca", c.management_api_ca,
        "PEM file of the CA that signs the Management API's certificate (default: system CAs)");
    add("management-api-max-concurrency", c.management_api_max_concurrency,
        "Most authorization requests in flight at once, per event loop")
        ->check(CLI::Range(std::size_t{1}, std::size_t{10000}));
    add("authz-cache-ttl", c.authz_cache_ttl, "Seconds an allowed answer is reused (0 = off)");
    add("reauth-interval", c.reauth_interval,
        "Seconds between re-authorizations of each subscription (0 = off)");
    add("max-subscriptions-per-socket", c.max_subscriptions_per_socket,
        "Most device subscriptions one socket may hold")
        ->check(CLI::Range(std::size_t{1}, std::size_t{100000}));
    add("ingest-token", c.ingest_token,
        "Bearer token required by POST /internal/v1/telemetries (empty = none)");
    add("max-ingest-body", c.max_ingest_body, "Largest ingestion request body (bytes)")
        ->check(CLI::Range(std::size_t{64}, std::size_t{1} << 30));
    add("doc-dir", c.doc_dir,
        "Directory of the /doc page and AsyncAPI files (empty = doc/ next to the executable)");
    add("log-level", c.log_level, "Log level")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
    add_ms("shutdown-grace", c.shutdown_grace, "Time to drain clients on SIGTERM");
    auto* conf = app.add_flag("--conformance", c.conformance,
                              "TEST ONLY: serve what the official protocol test suites expect")
                     ->envname("WSS_CONFORMANCE");
    rows.push_back({"--conformance", "WSS_CONFORMANCE", conf->get_description(), "false"});
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
            << (none ? std::string("(none)") : "`" + r.default_value + "`") << " | " << r.description
            << " |\n";
    }
    return out.str();
}

} // namespace kamea::core
