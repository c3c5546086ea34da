// Composition root: builds the shards, the Socket.IO server of each, the application's
// handlers, the Management API clients and the listeners, then runs until SIGTERM/SIGINT
// (contract section 10).

#include "app/authorization/authorizer.hpp"
#include "app/authorization/management_api_client.hpp"
#include "app/conformance/conformance.hpp"
#include "app/devices/devices_namespace.hpp"
#include "app/recovery/recovery.hpp"
#include "app/telemetry/fanout.hpp"
#include "app/telemetry/ingest.hpp"
#include "app/telemetry/subscriptions.hpp"
#include "bus/amqp_bus.hpp"
#include "bus/in_process_bus.hpp"
#include "composition/metrics_table.hpp"
#include "core/config.hpp"
#include "core/core_dumps.hpp"
#include "core/huge_page_heap.hpp"
#include "core/log.hpp"
#include "core/random_id.hpp"
#include "ops/doc_site.hpp"
#include "ops/metrics.hpp"
#include "ops/routes.hpp"
#include "ops/shutdown_sequence.hpp"
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
            throw core::config_error("kamea-wss: --management-api-url: not an http(s) URL: " + cfg.management_api_url,
                                     2);
        }
    }
    o.timeout = cfg.management_api_timeout;
    o.max_concurrency = cfg.management_api_max_concurrency;
    o.cache_ttl = std::chrono::seconds(cfg.authz_cache_ttl);
    return o;
}

transport::http_server_options public_options(const core::config& cfg, const composition::service_counters& counters) {
    transport::http_server_options opts;
    opts.handshake_timeout = cfg.handshake_timeout;
    opts.max_connections = cfg.max_connections;
    opts.max_connections_per_ip = cfg.max_connections_per_ip;
    opts.max_polling_sessions_per_ip = cfg.max_polling_sessions_per_ip;
    opts.max_header_bytes = cfg.max_header_bytes;
    opts.max_headers = cfg.max_headers;
    opts.cors_origins = cfg.cors_origins;
    opts.cookie_name = cfg.cookie;
    opts.conformance = cfg.conformance;
    opts.fill_first = cfg.placement == "fill";
    opts.session.ping_interval = cfg.ping_interval;
    opts.session.ping_timeout = cfg.ping_timeout;
    opts.session.upgrade_timeout = cfg.upgrade_timeout;
    opts.session.max_payload = cfg.max_payload;
    opts.session.max_send_queue = cfg.max_send_queue;
    opts.session.conflate_after = cfg.conflate_after;
    opts.session.stats = counters.engineio;
    return opts;
}

// The bus: RabbitMQ with --amqp-url, else the in-process default.
std::unique_ptr<core::bus> make_bus(const core::config& cfg, bus::amqp_stats& stats) {
    if (cfg.amqp_url.empty()) {
        return std::make_unique<bus::in_process_bus>();
    }
    bus::amqp_options o;
    o.urls = bus::parse_url_list(cfg.amqp_url);
    o.exchange = cfg.amqp_exchange;
    o.exchange_type = cfg.amqp_exchange_type;
    o.queue_max_length = cfg.amqp_queue_max_length;
    o.prefetch = cfg.amqp_prefetch;
    o.max_bindings = cfg.amqp_max_bindings;
    o.max_message_bytes = cfg.max_ingest_body;
    o.heartbeat = std::chrono::seconds(cfg.amqp_heartbeat);
    o.unbind_linger = cfg.amqp_unbind_linger;
    o.probe_interval = cfg.amqp_probe_interval;
    o.ca_file = cfg.amqp_ca;
    o.cert_file = cfg.amqp_cert;
    o.key_file = cfg.amqp_key;
    return bus::make_amqp_bus(std::move(o), stats);
}

} // namespace

int main(int argc, char** argv) {
    core::request_huge_page_heap(argv); // may start the program again, once
    core::set_core_dumps(false);        // before any secret is read (flags, files)
    if (argc == 2 && std::string_view(argv[1]) == "--config-markdown") {
        // The table of docs/configuration.md, from the same declarations as --help.
        std::cout << core::config_markdown();
        return 0;
    }
    core::config cfg;
    app::authorization::client_options api;
    // What every layer counts for /metrics, one set for the process, handed to each layer.
    composition::service_counters counters;
    try {
        cfg = core::parse_config(argc, argv);
        api = api_options(cfg);
        api.metrics = counters.authorization;
    } catch (const core::config_error& e) {
        (e.exit_code == 0 ? std::cout : std::cerr) << e.what() << '\n';
        return e.exit_code;
    }
    core::log::init(cfg.log_level);
    if (cfg.core_dumps) {
        core::set_core_dumps(true);
    }

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

    std::unique_ptr<core::bus> telemetry_bus;
    bus::amqp_stats amqp_stats;
    try {
        telemetry_bus = make_bus(cfg, amqp_stats);
    } catch (const std::invalid_argument& e) {
        std::cerr << "kamea-wss: --amqp-url: " << e.what() << '\n';
        return 2;
    }

    // The last values outlive the shards' subscriptions, which untrack theirs when destroyed.
    std::unique_ptr<app::telemetry::newest_store> newest;
    std::vector<shard_app> apps;
    std::unique_ptr<app::authorization::authorizer> authz;
    auto shards = make_shards(cfg);
    newest = std::make_unique<app::telemetry::newest_store>(cfg.last_value_budget, shards.size());
    // Connection state recovery (off without --recovery-window). Declared after the shards:
    // a waiting session's holds are let go of by posting to its shard.
    app::recovery::offset_codec offsets(core::random_id().substr(0, 6));
    // A client may come back a window after the server noticed it gone, which a heartbeat
    // takes up to an interval and a timeout to notice: what it missed may be that old.
    app::recovery::replay_buffer replay(cfg.recovery_budget, std::chrono::seconds(cfg.recovery_window) +
                                                                 cfg.ping_interval + cfg.ping_timeout);
    app::recovery::session_store recoverable;
    app::recovery::counters recovery_stats;
    app::telemetry::tenant_counters tenants(cfg.metrics_max_tenants);
    auto* tenant_series = cfg.metrics_max_tenants > 0 ? &tenants : nullptr;
    app::recovery::context recovery;
    if (cfg.recovery_window > 0) {
        recovery = {std::chrono::seconds(cfg.recovery_window), &recoverable, &replay, &offsets, &recovery_stats};
    }

    std::vector<app::authorization::authorizer::shard_client> clients;
    for (auto& sh : shards) {
        shard_app a;
        a.sio = std::make_unique<socketio::server>(socketio::server_options{cfg.connect_timeout, counters.socketio});
        a.api = std::make_unique<app::authorization::management_api_client>(sh->ctx.get_executor(), api, tls.get());
        clients.push_back({sh->ctx.get_executor(), a.api.get()});
        apps.push_back(std::move(a));
    }
    authz = std::make_unique<app::authorization::authorizer>(std::move(clients));
    std::vector<app::telemetry::fanout::shard_target> targets;
    for (std::size_t i = 0; i < shards.size(); ++i) {
        auto& sh = *shards[i];
        auto& a = apps[i];
        a.telemetries = std::make_unique<app::telemetry::subscriptions>(
            sh.ctx.get_executor(), *authz, *telemetry_bus, *newest, i,
            app::telemetry::subscription_options{cfg.max_subscriptions_per_socket,
                                                 std::chrono::seconds(cfg.reauth_interval),
                                                 std::chrono::seconds(cfg.last_value_ttl), recovery, tenant_series});
        if (cfg.conformance || cfg.test_namespaces) {
            a.sio->add_namespace("/", std::make_unique<app::conformance_namespace>());
            a.sio->add_namespace("/custom", std::make_unique<app::conformance_namespace>());
        }
        a.sio->add_namespace(
            std::string(app::devices_namespace_name),
            std::make_unique<app::devices_namespace>(
                *a.telemetries, app::event_rate_options{cfg.max_event_rate, cfg.event_burst}, counters.event_rate));
        sh.make_handler = [s = a.sio.get()](engineio::session& session,
                                            transport::endpoint ep) -> std::unique_ptr<engineio::session_handler> {
            if (ep == transport::endpoint::engineio_echo) {
                return app::make_engineio_echo(session);
            }
            return s->make_connection(session);
        };
        targets.push_back({sh.ctx.get_executor(), a.sio.get(), &sh.sessions});
    }
    // One path to the sockets, whichever bus carries the telemetry (contract section 7).
    app::telemetry::fanout fanout(std::string(app::devices_namespace_name), std::move(targets),
                                  {newest.get(), recovery.on() ? &replay : nullptr, recovery.on() ? &offsets : nullptr,
                                   cfg.conflate_after > 0, tenant_series});
    telemetry_bus->start([&fanout](const core::telemetry_batch& batch) { fanout.deliver(batch); });
    app::telemetry::ingest ingest({cfg.ingest_tokens}, *telemetry_bus);

    auto doc_dir = cfg.doc_dir.empty() ? (std::filesystem::canonical("/proc/self/exe").parent_path() / "doc").string()
                                       : cfg.doc_dir;
    ops::doc_site doc(doc_dir);
    if (doc.empty()) {
        core::log::warn("doc_not_found", {{"dir", doc_dir}, {"message", "run scripts/build-doc.sh"}});
    }
    transport::http_server public_server(
        shards, public_options(cfg, counters),
        [&doc](const transport::http_request& req) -> boost::asio::awaitable<std::optional<transport::http_response>> {
            co_return ops::doc_route(doc, req);
        });
    auto metrics =
        composition::make_metrics(shards, fanout, *newest, ingest, *telemetry_bus, amqp_stats, public_server, counters);
    composition::add_recovery_metrics(metrics, replay, recoverable, recovery_stats);
    if (tenant_series != nullptr) {
        composition::add_tenant_metrics(metrics, tenants);
    }
    ops::health health([&telemetry_bus] { return telemetry_bus->status(); }, cfg.ready_requires_bus);
    auto internal_opts = public_options(cfg, counters);
    internal_opts.engine_endpoints = false;
    internal_opts.cors_origins.clear();
    internal_opts.max_body = cfg.max_ingest_body;
    internal_opts.max_connections_per_ip = 0;
    transport::http_server internal_server(
        shards, internal_opts,
        [&](const transport::http_request& req) -> boost::asio::awaitable<std::optional<transport::http_response>> {
            auto target = req.target();
            if (target.substr(0, target.find('?')) == "/internal/v1/telemetries") {
                co_return co_await ingest.handle(req);
            }
            if (auto res = health.route(req)) {
                co_return res;
            }
            co_return ops::metrics_route(metrics, req);
        });

    auto shutdown = std::make_shared<ops::shutdown_sequence>(
        shards.front()->ctx.get_executor(),
        ops::shutdown_steps{
            .refuse_new =
                [&] {
                    health.set_draining();
                    ingest.stop_accepting();
                    public_server.drain();
                    internal_server.drain();
                },
            .ingest_settled = [&ingest] { return ingest.settled(); },
            .flush_bus = [&telemetry_bus](std::function<void()> done) { telemetry_bus->flush(std::move(done)); },
            .close_transports =
                [&shards] {
                    for (auto& sh : shards) {
                        boost::asio::post(sh->ctx, [s = sh.get()] {
                            s->sessions.for_each(
                                [](engineio::session& session) { session.close(engineio::close_reason::shutdown); });
                        });
                    }
                },
            .remaining =
                [&shards] {
                    std::size_t busy = 0;
                    for (auto& sh : shards) {
                        busy += sh->sessions.live() + sh->busy_connections.load(std::memory_order_relaxed);
                    }
                    return busy;
                },
            .release_bus = [&telemetry_bus](std::chrono::milliseconds budget) { telemetry_bus->stop(budget); },
            .stop =
                [&shards](std::size_t remaining) {
                    core::log::lifecycle("shutdown_complete", {{"remaining", remaining}});
                    for (auto& sh : shards) {
                        sh->ctx.stop();
                    }
                },
        },
        cfg.shutdown_grace);

    // Installed before the listeners announce themselves: a SIGTERM right after "listening"
    // must already be a graceful shutdown.
    boost::asio::signal_set signals(shards.front()->ctx, SIGTERM, SIGINT);
    signals.async_wait([&](boost::system::error_code ec, int signo) {
        if (ec) {
            return;
        }
        core::log::lifecycle("shutdown_started", {{"signal", signo}});
        shutdown->start();
    });

    std::uint16_t public_port = 0;
    std::uint16_t internal_port = 0;
    try {
        public_port = public_server.listen(cfg.public_host, cfg.public_port);
        internal_port = internal_server.listen(cfg.internal_host, cfg.internal_port);
    } catch (const std::exception& e) {
        core::log::error("listen_failed", {{"error", e.what()}});
        telemetry_bus->stop(std::chrono::milliseconds(1000));
        return 1;
    }
    core::log::lifecycle("listening", {{"listener", "public"},
                                       {"host", cfg.public_host},
                                       {"port", public_port},
                                       {"threads", shards.size()},
                                       {"bus", telemetry_bus->status().kind},
                                       {"conformance", cfg.conformance}});
    core::log::lifecycle("listening", {{"listener", "internal"}, {"host", cfg.internal_host}, {"port", internal_port}});
    if (cfg.conformance || cfg.test_namespaces) {
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
    // No delivery after this (stop() is idempotent: the shutdown sequence called it already).
    telemetry_bus->stop(std::chrono::milliseconds(0));
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
