#include "loadgen/options.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

namespace kamea::loadgen {

namespace {

namespace ip = boost::asio::ip;

// "127.0.0.2", or an IPv4 range "127.0.0.2-127.0.0.9".
void add_sources(const std::string& spec, std::vector<ip::address>& out) {
    auto dash = spec.find('-');
    if (dash == std::string::npos) {
        out.push_back(ip::make_address(spec));
        return;
    }
    auto first = ip::make_address_v4(spec.substr(0, dash)).to_uint();
    auto last = ip::make_address_v4(spec.substr(dash + 1)).to_uint();
    if (last < first || last - first > 1024) {
        throw CLI::ValidationError("--source", "bad range " + spec);
    }
    for (auto a = first; a <= last; ++a) {
        out.emplace_back(ip::address_v4(a));
    }
}

} // namespace

std::optional<options> parse_options(int argc, char** argv, int& exit_code) {
    options o;
    CLI::App app{"kamea-loadgen: Socket.IO v4 (WebSocket transport) load generator. Prints one "
                 "JSON report on stdout; progress lines (JSON) on stderr."};
    app.option_defaults()->always_capture_default();

    std::vector<std::string> sources;
    std::int64_t handshake_timeout_ms = o.handshake_timeout.count();
    std::int64_t sample_interval_ms = o.sample_interval.count();
    std::int64_t progress_interval_ms = o.progress_interval.count();

    app.add_option("--host", o.host, "Server address (numeric IP)");
    app.add_option("--port", o.port, "Server port")->required();
    app.add_option("--path", o.path, "Socket.IO path");
    app.add_option("--namespace", o.nsp, "Namespace to join");
    app.add_option("--token", o.token, "auth.token sent in the namespace CONNECT");
    app.add_option("--scenario", o.scenario, "What each client does once connected")
        ->check(CLI::IsMember({"idle", "subscribe"}));
    app.add_option("--devices", o.devices,
                   "subscribe: client i subscribes to device dev-<i mod devices> (the index runs "
                   "on from --first-index)")
        ->check(CLI::Range(std::size_t{1}, std::size_t{10000000}));
    app.add_option("--first-index", o.first_index,
                   "Index of this process's first client (so several processes share the "
                   "devices evenly)");
    app.add_option("--tenant", o.tenant, "subscribe: tenantId of the subscriptions");
    app.add_option("-n,--connections", o.connections, "Connections to open")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1000000}));
    app.add_option("--rate", o.rate, "New connections per second (0 = as fast as allowed)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--concurrency", o.concurrency, "Handshakes in flight at most")
        ->check(CLI::Range(std::size_t{1}, std::size_t{100000}));
    app.add_option("--source", sources,
                   "Local source address(es) to bind, round-robin (comma list; IPv4 ranges "
                   "a-b allowed), e.g. 127.0.0.2-127.0.0.5")
        ->delimiter(',');
    app.add_option("--threads", o.threads, "Event loop threads")->check(CLI::Range(1U, 64U));
    app.add_option("--handshake-timeout", handshake_timeout_ms,
                   "Time allowed from TCP connect to the namespace CONNECT reply (ms)")
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{3600000}));
    app.add_option("--hold", o.hold_s,
                   "Seconds to keep the connections once all are settled (0 = until "
                   "SIGINT/SIGTERM)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--server-pid", o.server_pid, "Sample this process's RSS and CPU from /proc");
    app.add_option("--sample-interval", sample_interval_ms, "Server sampling period (ms)")
        ->check(CLI::Range(std::int64_t{10}, std::int64_t{3600000}));
    app.add_flag("!--no-count-fds", o.count_fds, "Do not count the server's open files");
    app.add_option("--progress-interval", progress_interval_ms, "Progress line period on stderr (ms, 0 = none)")
        ->check(CLI::Range(std::int64_t{0}, std::int64_t{3600000}));
    app.add_option("--label", o.label, "Free text copied into the report");

    try {
        app.parse(argc, argv);
        for (const auto& s : sources) {
            add_sources(s, o.sources);
        }
        (void)ip::make_address(o.host); // numeric only: no resolver in the measurement path
    } catch (const CLI::ParseError& e) {
        exit_code = app.exit(e);
        return std::nullopt;
    } catch (const std::exception& e) {
        std::cerr << "kamea-loadgen: " << e.what() << '\n';
        exit_code = 2;
        return std::nullopt;
    }
    o.handshake_timeout = std::chrono::milliseconds(handshake_timeout_ms);
    o.sample_interval = std::chrono::milliseconds(sample_interval_ms);
    o.progress_interval = std::chrono::milliseconds(progress_interval_ms);
    return o;
}

} // namespace kamea::loadgen
