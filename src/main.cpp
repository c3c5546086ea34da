// Composition root: builds the shards, the Socket.IO server of each, the application's
// namespaces and the listener, then runs until SIGTERM/SIGINT (contract section 10).

#include "app/conformance/conformance.hpp"
#include "app/devices/devices_namespace.hpp"
#include "core/config.hpp"
#include "core/log.hpp"
#include "socketio/server.hpp"
#include "transport/http_server.hpp"
#include "transport/shard.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <iostream>
#include <thread>

namespace {

using namespace kamea;

std::vector<std::unique_ptr<transport::shard>> make_shards(const core::config& cfg) {
    unsigned n = cfg.threads != 0 ? cfg.threads : std::max(1U, std::thread::hardware_concurrency());
    std::vector<std::unique_ptr<transport::shard>> shards;
    for (unsigned i = 0; i < n; ++i) {
        shards.push_back(std::make_unique<transport::shard>(static_cast<int>(i)));
    }
    return shards;
}

// Each shard gets its own Socket.IO server and namespace handlers: nothing is shared.
std::vector<std::unique_ptr<socketio::server>> make_socketio(
    const core::config& cfg, std::vector<std::unique_ptr<transport::shard>>& shards) {
    std::vector<std::unique_ptr<socketio::server>> servers;
    for (auto& sh : shards) {
        auto srv = std::make_unique<socketio::server>(socketio::server_options{cfg.connect_timeout});
        if (cfg.conformance) {
            srv->add_namespace("/", std::make_unique<app::conformance_namespace>());
            srv->add_namespace("/custom", std::make_unique<app::conformance_namespace>());
        }
        srv->add_namespace(std::string(app::devices_namespace_name),
                           std::make_unique<app::devices_namespace>());
        sh->make_handler = [s = srv.get()](engineio::session& session, transport::endpoint ep)
            -> std::unique_ptr<engineio::session_handler> {
            if (ep == transport::endpoint::engineio_echo) {
                return app::make_engineio_echo(session);
            }
            return s->make_connection(session);
        };
        servers.push_back(std::move(srv));
    }
    return servers;
}

// SIGTERM: stop accepting, tell every client (DISCONNECT, then close), drain for up to the
// grace period, then stop the loops.
void shutdown(std::vector<std::unique_ptr<transport::shard>>& shards,
              transport::http_server& server,
              std::chrono::milliseconds grace) {
    server.stop_accepting();
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
            // Reading another shard's counters without a lock is fine here: a stale value
            // only delays the exit by one check.
            busy += sh->sessions.size() + sh->connections;
        }
        if (busy == 0 || std::chrono::steady_clock::now() >= deadline) {
            core::log::info("shutdown_complete", {{"remaining", busy}});
            for (auto& sh : shards) {
                sh->ctx.stop();
            }
            return;
        }
        timer->expires_after(std::chrono::milliseconds(20));
        timer->async_wait([check](boost::system::error_code) { (*check)(); });
    };
    boost::asio::post(shards.front()->ctx, [check] { (*check)(); });
}

} // namespace

int main(int argc, char** argv) {
    core::config cfg;
    try {
        cfg = core::parse_config(argc, argv);
    } catch (const core::config_error& e) {
        (e.exit_code == 0 ? std::cout : std::cerr) << e.what() << '\n';
        return e.exit_code;
    }
    core::log::init(cfg.log_level);

    // Declared before the shards so it outlives them: the shards' sessions hold sockets that
    // leave their server's rooms as they are destroyed.
    std::vector<std::unique_ptr<socketio::server>> sio;
    auto shards = make_shards(cfg);
    sio = make_socketio(cfg, shards);

    transport::http_server_options opts;
    opts.handshake_timeout = cfg.handshake_timeout;
    opts.max_connections = cfg.max_connections;
    opts.max_connections_per_ip = cfg.max_connections_per_ip;
    opts.cors_origins = cfg.cors_origins;
    opts.conformance = cfg.conformance;
    opts.session.ping_interval = cfg.ping_interval;
    opts.session.ping_timeout = cfg.ping_timeout;
    opts.session.upgrade_timeout = cfg.upgrade_timeout;
    opts.session.max_payload = cfg.max_payload;
    opts.session.max_send_queue = cfg.max_send_queue;
    transport::http_server server(shards, opts);

    std::uint16_t port = 0;
    try {
        port = server.listen(cfg.public_host, cfg.public_port);
    } catch (const std::exception& e) {
        core::log::error("listen_failed", {{"host", cfg.public_host},
                                           {"port", cfg.public_port},
                                           {"error", e.what()}});
        return 1;
    }
    core::log::info("listening", {{"listener", "public"},
                                  {"host", cfg.public_host},
                                  {"port", port},
                                  {"threads", shards.size()},
                                  {"conformance", cfg.conformance}});
    if (cfg.conformance) {
        core::log::warn("conformance_mode", {{"message", "test-only namespaces are enabled"}});
    }

    boost::asio::signal_set signals(shards.front()->ctx, SIGTERM, SIGINT);
    signals.async_wait([&](boost::system::error_code ec, int signo) {
        if (ec) {
            return;
        }
        core::log::info("shutdown_started", {{"signal", signo}});
        shutdown(shards, server, cfg.shutdown_grace);
    });

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
    return 0;
}
