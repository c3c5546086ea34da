#include "loadgen/worker.hpp"

#include "loadgen/client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>

namespace kamea::loadgen {

namespace asio = boost::asio;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

// Spawned per client; takes its arguments by value so the frame owns what it uses.
asio::awaitable<void> run_client(worker* w, std::size_t index) {
    client c(*w, index);
    co_await c.run();
}

} // namespace

client_settings client_settings::from(const options& opts) {
    client_settings s;
    auto address = asio::ip::make_address(opts.host);
    s.server = asio::ip::tcp::endpoint(address, opts.port);
    s.sources = opts.sources;
    s.host_header = (address.is_v6() ? "[" + opts.host + "]" : opts.host) + ":" + std::to_string(opts.port);
    s.target = opts.path + "?EIO=4&transport=websocket";
    s.nsp = opts.nsp;
    // `4` (Engine.IO message) + `0` (Socket.IO CONNECT) + namespace + auth, as
    // io(url + nsp, {auth: {token}}) sends it.
    s.connect_packet = "40";
    if (opts.nsp != "/") {
        s.connect_packet += opts.nsp + ",";
    }
    s.connect_packet += boost::json::serialize(boost::json::object{{"token", opts.token}});
    s.handshake_timeout = opts.handshake_timeout;
    s.max_message = opts.max_message;
    return s;
}

worker::worker(const client_settings& settings, std::unique_ptr<scenario> sc, std::size_t first_index,
               std::size_t count, double rate, std::size_t concurrency)
    : settings_(settings), scenario_(std::move(sc)), first_index_(first_index), count_(count), rate_(rate),
      concurrency_(std::max<std::size_t>(concurrency, 1)) {}

worker::~worker() = default;

void worker::run() {
    auto guard = asio::make_work_guard(ctx_);
    asio::co_spawn(ctx_, launch(), asio::detached);
    ctx_.run();
}

void worker::stop() {
    ctx_.stop();
}

void worker::handshake_settled() {
    --in_flight_;
    wake_.cancel();
}

asio::awaitable<void> worker::launch() {
    auto start = std::chrono::steady_clock::now();
    asio::steady_timer pace(ctx_);
    for (std::size_t i = 0; i < count_; ++i) {
        if (rate_ > 0) {
            auto due = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                   std::chrono::duration<double>(static_cast<double>(i) / rate_));
            if (due > std::chrono::steady_clock::now()) {
                pace.expires_at(due);
                co_await pace.async_wait(nothrow);
            }
        }
        while (in_flight_ >= concurrency_) {
            wake_.expires_at(std::chrono::steady_clock::time_point::max());
            co_await wake_.async_wait(nothrow);
        }
        ++in_flight_;
        asio::co_spawn(ctx_, run_client(this, first_index_ + i), [this](std::exception_ptr e) {
            if (e) {
                // A bug, not a server behaviour: count it so the report shows it.
                try {
                    std::rethrow_exception(e);
                } catch (const std::exception& ex) {
                    ++stats_.failures[std::string("exception: ") + ex.what()];
                } catch (...) {
                    ++stats_.failures["exception"];
                }
                stats_.failed.add();
            }
        });
    }
}

} // namespace kamea::loadgen
