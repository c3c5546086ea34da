// The shutdown sequence's order and timing, and the health bodies, without sockets.
#include "ops/routes.hpp"
#include "ops/shutdown_sequence.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

using namespace kamea;
using namespace std::chrono_literals;
namespace http = boost::beast::http;

namespace {

struct recorder {
    std::vector<std::string> steps;
    bool ingest_settled = true;
    bool bus_answers = true;       // flush_bus calls back at once
    std::function<void()> flushed; // kept when it does not
    std::size_t remaining = 0;
    std::chrono::milliseconds budget{-1};
    std::size_t stopped_with = 99;

    ops::shutdown_steps make() {
        return {
            .refuse_new = [this] { steps.emplace_back("refuse_new"); },
            .ingest_settled = [this] { return ingest_settled; },
            .flush_bus =
                [this](std::function<void()> done) {
                    steps.emplace_back("flush_bus");
                    if (bus_answers) {
                        done();
                    } else {
                        flushed = std::move(done);
                    }
                },
            .close_transports = [this] { steps.emplace_back("close_transports"); },
            .remaining = [this] { return remaining; },
            .release_bus =
                [this](std::chrono::milliseconds b) {
                    steps.emplace_back("release_bus");
                    budget = b;
                },
            .stop =
                [this](std::size_t left) {
                    steps.emplace_back("stop");
                    stopped_with = left;
                },
        };
    }
};

ops::http_request get(std::string target) {
    return {http::verb::get, target, 11};
}

} // namespace

TEST(shutdown_sequence, waits_for_the_last_session_then_releases_the_bus_and_stops) {
    boost::asio::io_context ctx;
    recorder r;
    r.remaining = 2;
    auto seq = std::make_shared<ops::shutdown_sequence>(ctx.get_executor(), r.make(), 10s, 1ms);
    seq->start();
    seq->start(); // a second signal changes nothing
    EXPECT_EQ(r.steps, (std::vector<std::string>{"refuse_new", "flush_bus", "close_transports"}));
    ctx.run_for(20ms);
    EXPECT_EQ(r.steps.size(), 3U); // still waiting for the sessions
    r.remaining = 0;
    ctx.run_for(50ms);
    EXPECT_EQ(r.steps,
              (std::vector<std::string>{"refuse_new", "flush_bus", "close_transports", "release_bus", "stop"}));
    EXPECT_EQ(r.stopped_with, 0U);
    EXPECT_GT(r.budget, 9s); // what is left of the grace period
}

TEST(shutdown_sequence, transports_close_only_after_accepted_ingestion_came_back_from_the_bus) {
    boost::asio::io_context ctx;
    recorder r;
    r.ingest_settled = false; // a publish still awaits its confirmation
    r.bus_answers = false;
    auto seq = std::make_shared<ops::shutdown_sequence>(ctx.get_executor(), r.make(), 10s, 1ms);
    seq->start();
    ctx.run_for(20ms);
    EXPECT_EQ(r.steps, (std::vector<std::string>{"refuse_new"})); // no fence before the answer
    r.ingest_settled = true;
    ctx.run_for(20ms);
    EXPECT_EQ(r.steps, (std::vector<std::string>{"refuse_new", "flush_bus"}));
    ctx.run_for(20ms);
    EXPECT_EQ(r.steps.size(), 2U); // the fence is not back: clients may still get telemetry
    ASSERT_TRUE(r.flushed);
    r.flushed();
    ctx.run_for(50ms);
    EXPECT_EQ(r.steps,
              (std::vector<std::string>{"refuse_new", "flush_bus", "close_transports", "release_bus", "stop"}));
}

TEST(shutdown_sequence, a_bus_that_never_answers_delays_the_close_only_for_the_grace_period) {
    boost::asio::io_context ctx;
    recorder r;
    r.bus_answers = false;
    auto seq = std::make_shared<ops::shutdown_sequence>(ctx.get_executor(), r.make(), 30ms, 1ms);
    seq->start();
    ctx.run_for(2s);
    EXPECT_EQ(r.steps,
              (std::vector<std::string>{"refuse_new", "flush_bus", "close_transports", "release_bus", "stop"}));
}

TEST(shutdown_sequence, the_grace_period_running_out_stops_anyway) {
    boost::asio::io_context ctx;
    recorder r;
    r.remaining = 3; // a client that never goes
    auto seq = std::make_shared<ops::shutdown_sequence>(ctx.get_executor(), r.make(), 30ms, 1ms);
    seq->start();
    ctx.run_for(2s);
    ASSERT_EQ(r.steps.back(), "stop");
    EXPECT_EQ(r.stopped_with, 3U);
    EXPECT_EQ(r.budget, 1000ms); // the bus gets at least a second
}

TEST(health, ready_tells_the_bus_state_and_draining) {
    core::bus_status status{"amqp", core::bus_state::disconnected, "amqp://guest:***@127.0.0.1:5672/"};
    ops::health lenient([&] { return status; }, false);
    auto res = lenient.route(get("/health/ready"));
    ASSERT_TRUE(res);
    EXPECT_EQ(res->result(), http::status::ok); // a shared broker must not take every replica out
    auto body = boost::json::parse(res->body()).as_object();
    EXPECT_EQ(body.at("status"), "ready");
    EXPECT_EQ(body.at("bus").at("state"), "disconnected");
    EXPECT_EQ(body.at("bus").at("kind"), "amqp");

    ops::health strict([&] { return status; }, true);
    EXPECT_EQ(strict.route(get("/health/ready"))->result(), http::status::service_unavailable);
    EXPECT_EQ(boost::json::parse(strict.route(get("/health/ready"))->body()).at("status"), "bus_unavailable");
    status.state = core::bus_state::connected;
    EXPECT_EQ(strict.route(get("/health/ready?x=1"))->result(), http::status::ok);

    strict.set_draining();
    auto draining = strict.route(get("/health/ready"));
    EXPECT_EQ(draining->result(), http::status::service_unavailable);
    EXPECT_EQ(boost::json::parse(draining->body()).at("status"), "draining");
    EXPECT_EQ(strict.route(get("/health/live"))->result(), http::status::ok); // still alive
    EXPECT_FALSE(strict.route(get("/metrics")));
}
