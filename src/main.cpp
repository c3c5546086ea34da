// Composition root: builds the shards, the Socket.IO server of each, the application's
// handlers, the Management API clients and the listeners, then runs until SIGTERM/SIGINT
// (contract section 10).

#include "app/authorization/authorizer.hpp"
#include "app/authorization/management_api_client.hpp"
#include "app/conformance/conformance.hpp"
#include "app/devices/devices_namespace.hpp"
#include "app/telemetry/fanout.hpp"
#include "app/telemetry/ingest.hpp"
#include "app/telemetry/subscriptions.hpp"
#include "core/config.hpp"
#include "core/huge_page_heap.hpp"
#include "core/log.hpp"
#include "engineio/counters.hpp"
#include "ops/doc_site.hpp"
#include "ops/metrics.hpp"
#include "socketio/counters.hpp"
#include "socketio/server.hpp"
#include "transport/http_server.hpp"
#include "transport/shard.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <filesystem>
#include <iostream>
#include <thread>

namespace {

using namespace kamea;
namespace http = boost::beast::http;

// Everything one shard owns above the transport. Declared before the shards in main so it
// outlives them: the shards' sessions hold sockets that reference these objects.
struct shard_app {
    std::unique_ptr<socketio::server> sio;
    std::unique_ptr<app::authorization::management_api_client> api;
    std::unique_ptr<app::telemetry::subscriptions> telemetries;
};

// Sends per io_uring submission at most; a turn with more submits again.
constexpr unsigned send_ring_entries = 2048;

std::vector<std::unique_ptr<transport::shard>> make_shards(const core::config& cfg) {
    unsigned n = cfg.threads != 0 ? cfg.threads : std::max(1U, std::thread::hardware_concurrency());
    std::vector<std::unique_ptr<transport::shard>> shards;
    for (unsigned i = 0; i < n; ++i) {
        auto sh = std::make_unique<transport::shard>(static_cast<int>(i));
        if (cfg.io_uring) {
            sh->sends = transport::send_ring::create(sh->ctx, send_ring_entries);
            if (!sh->sends && i == 0) {
                core::log::warn("io_uring_unavailable", {{"fallback", "one send per socket"}});
            }
        }
        shards.push_back(std::move(sh));
    }
    return shards;
}

boost::asio::ssl::context make_tls(const core::config& cfg) {
    boost::asio::ssl::context tls(boost::asio::ssl::context::tls_client);
    tls.set_default_verify_paths();
    if (!cfg.management_api_ca.empty()) {
        tls.load_verify_file(cfg.management_api_ca);
    }
    tls.set_verify_mode(boost::asio::ssl::verify_peer);
    return tls;
}

app::authorization::client_options api_options(const core::config& cfg) {
    app::authorization::client_options o;
    if (!cfg.management_api_url.empty()) {
        o.endpoint = app::authorization::parse_api_url(cfg.management_api_url);
        if (!o.endpoint) {
            throw core::config_error("kamea-wss: --management-api-url: not an http(s) URL: " +
                                         cfg.management_api_url,
                                     2);
        }
    }
    o.timeout = cfg.management_api_timeout;
    o.max_concurrency = cfg.management_api_max_concurrency;
    o.cache_ttl = std::chrono::seconds(cfg.authz_cache_ttl);
    return o;
}

transport::http_server_options public_options(const core::config& cfg) {
    transport::http_server_options opts;
    opts.handshake_timeout = cfg.handshake_timeout;
    opts.max_connections = cfg.max_connections;
    opts.max_connections_per_ip = cfg.max_connections_per_ip;
    opts.cors_origins = cfg.cors_origins;
    opts.cookie_name = cfg.cookie;
    opts.conformance = cfg.conformance;
    opts.session.ping_interval = cfg.ping_interval;
    opts.session.ping_timeout = cfg.ping_timeout;
    opts.session.upgrade_timeout = cfg.upgrade_timeout;
    opts.session.max_payload = cfg.max_payload;
    opts.session.max_send_queue = cfg.max_send_queue;
    return opts;
}

transport::http_response json_answer(const transport::http_request& req, http::status status, std::string body) {
    transport::http_response res{status, req.version()};
    res.set(http::field::content_type, "application/json");
    res.body() = std::move(body);
    return res;
}

// Every metric of contract section 8, read from the layers' atomics at scrape time.
ops::metrics_registry make_metrics(std::vector<std::unique_ptr<transport::shard>>& shards,
                                   const app::telemetry::fanout& fanout,
                                   const transport::http_server& public_server) {
    using series = ops::metrics_registry::labelled;
    auto load = [](const auto& atomic) { return [&atomic] { return static_cast<double>(atomic.load()); }; };
    auto& eio = engineio::global_counters();
    auto& sio = socketio::global_counters();
    auto& authz = app::authorization::global_call_metrics();
    ops::metrics_registry m;
    m.gauge("kamea_connections", "Engine.IO sessions by transport",
            {series{R"(transport="polling")", load(eio.polling_sessions)},
             series{R"(transport="websocket")", load(eio.websocket_sessions)}});
    m.gauge("kamea_tcp_connections", "Open TCP connections on the public listener",
            {series{"", load(public_server.stats().connections)}});
    m.counter("kamea_tcp_connections_rejected_total", "Connections refused by the connection limits",
              {series{"", load(public_server.stats().rejected)}});
    m.gauge("kamea_namespace_sockets", "Socket.IO namespace sockets", {series{"", load(sio.sockets)}});
    m.gauge("kamea_rooms", "Rooms with at least one socket", {series{"", load(sio.rooms)}});
    m.gauge("kamea_subscriptions", "Live telemetry subscriptions",
            {series{"", load(app::telemetry::subscription_gauge())}});
    m.counter("kamea_telemetries_in_total", "Telemetries accepted for delivery",
              {series{"", load(fanout.stats().telemetries_in)}});
    m.counter("kamea_messages_out_total", "Telemetry messages queued to sockets",
              {series{"", load(fanout.stats().messages_out)}});
    m.counter("kamea_dropped_messages_total", "Packets dropped for clients cut off as too slow",
              {series{"", load(eio.dropped_packets)}});
    m.counter("kamea_slow_clients_total", "Clients disconnected past --max-send-queue",
              {series{"", load(eio.slow_clients)}});
    m.counter("kamea_sessions_opened_total", "Engine.IO sessions opened", {series{"", load(eio.sessions_opened)}});
    m.counter("kamea_protocol_errors_total", "Sessions closed for invalid packets",
              {series{"", load(eio.protocol_errors)}});
    m.counter("kamea_ping_timeouts_total", "Sessions closed by the heartbeat", {series{"", load(eio.ping_timeouts)}});
    m.counter("kamea_authorization_calls_total", "Management API checks by result",
              {series{R"(result="allowed")", load(authz.allowed)},
               series{R"(result="denied")", load(authz.denied)},
               series{R"(result="error")", load(authz.errors)}});
    m.histogram("kamea_authorization_duration_seconds", "Management API check latency",
                [&authz] { return authz.latency.read(); });
    m.histogram("kamea_ingest_to_write_seconds", "Time from ingestion to the end of the WebSocket write",
                [&shards] {
                    core::histogram::snapshot total;
                    for (auto& sh : shards) {
                        total += sh->ingest_to_write.read();
                    }
                    return total;
                });
    auto ring_total = [&shards](std::uint64_t (transport::send_ring::*read)() const) {
        return [&shards, read] {
            double total = 0;
            for (auto& sh : shards) {
                total += sh->sends ? static_cast<double>(((*sh->sends).*read)()) : 0.0;
            }
            return total;
        };
    };
    m.counter("kamea_ring_sends_total", "WebSocket sends handed to the kernel through io_uring",
              {series{"", ring_total(&transport::send_ring::sends)}});
    m.counter("kamea_ring_submissions_total", "io_uring submissions carrying those sends",
              {series{"", ring_total(&transport::send_ring::submissions)}});
    m.gauge("kamea_bus_connected", "Telemetry bus state (1 = connected)", {series{R"(bus="in-process")", [] { return 1.0; }}});
    return m;
}

// SIGTERM: refuse new sessions, tell every client (DISCONNECT, then close), serve their last
// requests for up to the grace period, then stop the loops. The listeners stay open while
// draining: a polling client learns of the shutdown only on its next GET, which may come on
// a new connection.
void shutdown(std::vector<std::unique_ptr<transport::shard>>& shards,
              std::vector<transport::http_server*> servers,
              std::chrono::milliseconds grace) {
    for (auto* server : servers) {
        server->drain();
    }
    for (auto& sh : shards) {
        boost::asio::post(sh->ctx, [s = sh.get()] {
            s->sessions.for_each(
                [](engineio::session& session) { session.close(engineio::close_reason::shutdown); });
        });
    }
    auto deadline = std::chrono::steady_clock::now() + grace;
    auto timer = std::make_shared<boost::asio::steady_timer>(shards.front()->ctx);
    auto check = std::make_shared<std::function<void()>>();
    *check = [&shards, deadline, timer, check] {
        std::size_t busy = 0;
        for (auto& sh : shards) {
            busy += sh->sessions.live() + sh->busy_connections.load(std::memory_order_relaxed);
        }
        if (busy == 0 || std::chrono::steady_clock::now() >= deadline) {
            core::log::lifecycle("shutdown_complete", {{"remaining", busy}});
            for (auto& sh : shards) {
                sh->ctx.stop();
            }
            *check = nullptr; // break the self-reference
            return;
        }
        timer->expires_after(std::chrono::milliseconds(20));
        timer->async_wait([check](boost::system::error_code) {
            if (*check) {
                (*check)();
            }
        });
    };
    boost::asio::post(shards.front()->ctx, [check] { (*check)(); });
}

} // namespace

int main(int argc, char** argv) {
    core::request_huge_page_heap(argv); // may start the program again, once
    if (argc == 2 && std::string_view(argv[1]) == "--config-markdown") {
        // The table of docs/configuration.md, from the same declarations as --help.
        std::cout << core::config_markdown();
        return 0;
    }
    core::config cfg;
    app::authorization::client_options api;
    try {
        cfg = core::parse_config(argc, argv);
        api = api_options(cfg);
    } catch (const core::config_error& e) {
        (e.exit_code == 0 ? std::cout : std::cerr) << e.what() << '\n';
        return e.exit_code;
    }
    core::log::init(cfg.log_level);

    std::unique_ptr<boost::asio::ssl::context> tls;
    try {
        tls = std::make_unique<boost::asio::ssl::context>(make_tls(cfg));
    } catch (const std::exception& e) {
        std::cerr << "kamea-wss: --management-api-ca: " << e.what() << '\n';
        return 2;
    }
    if (!api.endpoint) {
        core::log::warn("management_api_not_configured",
                        {{"message", "set --management-api-url: every subscription will fail"}});
    }

    std::vector<shard_app> apps;
    std::unique_ptr<app::authorization::authorizer> authz;
    std::unique_ptr<app::telemetry::fanout> fanout;
    auto shards = make_shards(cfg);

    std::vector<app::authorization::authorizer::shard_client> clients;
    for (auto& sh : shards) {
        shard_app a;
        a.sio = std::make_unique<socketio::server>(socketio::server_options{cfg.connect_timeout});
        a.api = std::make_unique<app::authorization::management_api_client>(sh->ctx.get_executor(), api,
                                                                           tls.get());
        clients.push_back({sh->ctx.get_executor(), a.api.get()});
        apps.push_back(std::move(a));
    }
    authz = std::make_unique<app::authorization::authorizer>(std::move(clients));
    std::vector<app::telemetry::fanout::shard_target> targets;
    for (std::size_t i = 0; i < shards.size(); ++i) {
        auto& sh = *shards[i];
        auto& a = apps[i];
        a.telemetries = std::make_unique<app::telemetry::subscriptions>(
            sh.ctx.get_executor(), *authz,
            app::telemetry::subscription_options{cfg.max_subscriptions_per_socket,
                                                 std::chrono::seconds(cfg.reauth_interval)});
        if (cfg.conformance) {
            a.sio->add_namespace("/", std::make_unique<app::conformance_namespace>());
            a.sio->add_namespace("/custom", std::make_unique<app::conformance_namespace>());
        }
        a.sio->add_namespace(std::string(app::devices_namespace_name),
                             std::make_unique<app::devices_namespace>(*a.telemetries));
        sh.make_handler = [s = a.sio.get()](engineio::session& session, transport::endpoint ep)
            -> std::unique_ptr<engineio::session_handler> {
            if (ep == transport::endpoint::engineio_echo) {
                return app::make_engineio_echo(session);
            }
            return s->make_connection(session);
        };
        targets.push_back({sh.ctx.get_executor(), a.sio.get()});
    }
    fanout = std::make_unique<app::telemetry::fanout>(std::move(targets));
    app::telemetry::ingest ingest({cfg.ingest_token}, *fanout);

    auto doc_dir = cfg.doc_dir.empty()
                       ? (std::filesystem::canonical("/proc/self/exe").parent_path() / "doc").string()
                       : cfg.doc_dir;
    ops::doc_site doc(doc_dir);
    if (doc.empty()) {
        core::log::warn("doc_not_found", {{"dir", doc_dir}, {"message", "run scripts/build-doc.sh"}});
    }
    transport::http_server public_server(
        shards, public_options(cfg), [&doc](const transport::http_request& req) -> std::optional<transport::http_response> {
            auto target = req.target();
            auto found = doc.find(target.substr(0, target.find('?')));
            if (!found) {
                return std::nullopt;
            }
            if (req.method() != http::verb::get && req.method() != http::verb::head) {
                return json_answer(req, http::status::method_not_allowed, R"({"error":"method_not_allowed"})");
            }
            if (*found == nullptr) {
                return json_answer(req, http::status::not_found,
                                   doc.empty() ? R"({"error":"not_found","message":"documentation not built"})"
                                               : R"({"error":"not_found"})");
            }
            transport::http_response res{http::status::ok, req.version()};
            res.set(http::field::content_type, (*found)->content_type);
            res.set(http::field::cache_control, "no-cache");
            res.body() = (*found)->body;
            return res;
        });
    auto metrics = make_metrics(shards, *fanout, public_server);
    auto internal_opts = public_options(cfg);
    internal_opts.engine_endpoints = false;
    internal_opts.cors_origins.clear();
    internal_opts.max_body = cfg.max_ingest_body;
    internal_opts.max_connections_per_ip = 0;
    std::atomic<bool> draining{false};
    transport::http_server internal_server(
        shards, internal_opts, [&](const transport::http_request& req) -> std::optional<transport::http_response> {
            auto target = req.target();
            auto path = target.substr(0, target.find('?'));
            if (path == "/internal/v1/telemetries") {
                return ingest.handle(req);
            }
            if (path == "/health/live") {
                return json_answer(req, http::status::ok, R"({"status":"ok"})");
            }
            if (path == "/health/ready") {
                // Not ready while draining, so load balancers stop sending new clients.
                if (draining.load(std::memory_order_relaxed)) {
                    return json_answer(req, http::status::service_unavailable, R"({"status":"draining"})");
                }
                return json_answer(req, http::status::ok, R"({"status":"ready"})");
            }
            if (path == "/metrics") {
                transport::http_response res{http::status::ok, req.version()};
                res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
                res.body() = metrics.render();
                return res;
            }
            return std::nullopt;
        });

    // Installed before the listeners announce themselves: a SIGTERM right after "listening"
    // must already be a graceful shutdown.
    boost::asio::signal_set signals(shards.front()->ctx, SIGTERM, SIGINT);
    signals.async_wait([&](boost::system::error_code ec, int signo) {
        if (ec) {
            return;
        }
        core::log::lifecycle("shutdown_started", {{"signal", signo}});
        draining.store(true, std::memory_order_relaxed);
        shutdown(shards, {&public_server, &internal_server}, cfg.shutdown_grace);
    });

    std::uint16_t public_port = 0;
    std::uint16_t internal_port = 0;
    try {
        public_port = public_server.listen(cfg.public_host, cfg.public_port);
        internal_port = internal_server.listen(cfg.internal_host, cfg.internal_port);
    } catch (const std::exception& e) {
        core::log::error("listen_failed", {{"error", e.what()}});
        return 1;
    }
    core::log::lifecycle("listening", {{"listener", "public"},
                                  {"host", cfg.public_host},
                                  {"port", public_port},
                                  {"threads", shards.size()},
                                  {"conformance", cfg.conformance}});
    core::log::lifecycle("listening", {{"listener", "internal"},
                                  {"host", cfg.internal_host},
                                  {"port", internal_port}});
    if (cfg.conformance) {
        core::log::warn("conformance_mode", {{"message", "test-only namespaces are enabled"}});
    }

    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < shards.size(); ++i) {
        threads.emplace_back([&sh = *shards[i]] {
            auto guard = boost::asio::make_work_guard(sh.ctx);
            sh.ctx.run();
        });
    }
    {
        auto guard = boost::asio::make_work_guard(shards.front()->ctx);
        shards.front()->ctx.run();
    }
    for (auto& t : threads) {
        t.join();
    }
    // Teardown in dependency order (see shard_context): handlers and sessions first, while the
    // Socket.IO servers and the application objects they reference still exist; then the
    // application objects, whose timers and sockets need the contexts' services; then, at the
    // end of this scope, the listeners and the shards.
    for (auto& sh : shards) {
        sh->release_handlers_and_sessions();
    }
    apps.clear();
    return 0;
}
