// The RabbitMQ bus against a real broker (scripts/rabbitmq.sh start <dir>, then the variables
// of <dir>/env in the environment); skipped without KAMEA_AMQP_URL. Each case takes seconds.
#include "bus/amqp_bus.hpp"
#include "core/ingest_clock.hpp"

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <array>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using kamea::bus::amqp_options;
using kamea::bus::amqp_stats;
using kamea::core::device_key;
using kamea::core::publish_result;
using kamea::core::telemetry;
using kamea::core::watch_result;

namespace {

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v == nullptr ? "" : v;
}

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds within) {
    auto end = std::chrono::steady_clock::now() + within;
    while (!done()) {
        if (std::chrono::steady_clock::now() > end) {
            return false;
        }
        std::this_thread::sleep_for(10ms);
    }
    return true;
}

// rabbitmqctl against a test node (the cookie is in KAMEA_RABBITMQ_HOME); its output.
std::string rabbitmqctl(const std::string& args, const char* node_variable = "KAMEA_RABBITMQ_NODE") {
    std::string cmd = "HOME='" + env("KAMEA_RABBITMQ_HOME") + "' /usr/lib/rabbitmq/bin/rabbitmqctl -q -n '" +
                      env(node_variable) + "' " + args + " 2>&1";
    std::string out;
    if (FILE* p = ::popen(cmd.c_str(), "r")) {
        std::array<char, 4096> buf{};
        while (auto n = std::fread(buf.data(), 1, buf.size(), p)) {
            out.append(buf.data(), n);
        }
        ::pclose(p);
    }
    return out;
}

// Routing keys bound from the exchange to any queue.
std::vector<std::string> bound_keys(const std::string& exchange) {
    std::vector<std::string> keys;
    auto out = rabbitmqctl("list_bindings source_name destination_name routing_key --formatter json");
    boost::system::error_code ec;
    auto v = boost::json::parse(out, ec);
    if (ec || !v.is_array()) {
        ADD_FAILURE() << "rabbitmqctl list_bindings: " << out;
        return keys;
    }
    for (const auto& b : v.as_array()) {
        if (b.at("source_name").as_string() == exchange) {
            keys.emplace_back(b.at("routing_key").as_string());
        }
    }
    return keys;
}

// A message as a platform's producer would send it (no header of ours), on a blocking
// connection of its own.
void publish_raw(const std::string& exchange, const std::string& key, const std::string& body) {
    std::string url = env("KAMEA_AMQP_URL");
    amqp_connection_info info{};
    ASSERT_EQ(amqp_parse_url(url.data(), &info), AMQP_STATUS_OK);
    auto conn = amqp_new_connection();
    auto sock = amqp_tcp_socket_new(conn);
    ASSERT_EQ(amqp_socket_open(sock, info.host, info.port), AMQP_STATUS_OK);
    ASSERT_EQ(amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, info.user, info.password).reply_type,
              AMQP_RESPONSE_NORMAL);
    amqp_channel_open(conn, 1);
    ASSERT_EQ(amqp_get_rpc_reply(conn).reply_type, AMQP_RESPONSE_NORMAL);
    ASSERT_EQ(amqp_basic_publish(conn, 1, amqp_cstring_bytes(exchange.c_str()), amqp_cstring_bytes(key.c_str()), 0, 0,
                                 nullptr, {body.size(), const_cast<char*>(body.data())}),
              AMQP_STATUS_OK);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
}

// What a bus delivered, for the test thread to wait on.
struct inbox {
    std::mutex mutex;
    std::vector<telemetry> got;
    std::size_t batches = 0;

    kamea::core::bus::delivery_handler handler() {
        return [this](kamea::core::telemetry_batch b) {
            std::lock_guard lock(mutex);
            ++batches;
            got.insert(got.end(), b->begin(), b->end());
        };
    }
    std::size_t count_for(const std::string& device) {
        std::lock_guard lock(mutex);
        std::size_t n = 0;
        for (const auto& t : got) {
            n += t.key.device_id == device ? 1 : 0;
        }
        return n;
    }
    std::size_t size() {
        std::lock_guard lock(mutex);
        return got.size();
    }
};

std::string body_of(const device_key& k, int n) {
    return R"({"tenantId":")" + k.tenant_id + R"(", "deviceId":")" + k.device_id + R"(","n":)" + std::to_string(n) +
           R"(,"x":[1.50, null]})";
}

kamea::core::telemetry_batch batch_of(std::vector<telemetry> items) {
    return std::make_shared<const std::vector<telemetry>>(std::move(items));
}

struct instance {
    amqp_stats stats;
    inbox in;
    std::unique_ptr<kamea::core::bus> bus;

    explicit instance(const amqp_options& o) : bus(kamea::bus::make_amqp_bus(o, stats)) { bus->start(in.handler()); }

    bool connected(std::chrono::milliseconds within = 15s) {
        return eventually([&] { return bus->status().state == kamea::core::bus_state::connected; }, within);
    }
    watch_result watch(const device_key& k) {
        auto p = std::make_shared<std::promise<watch_result>>();
        auto f = p->get_future();
        bus->watch(k, [p](watch_result r) { p->set_value(r); });
        EXPECT_EQ(f.wait_for(10s), std::future_status::ready);
        return f.get();
    }
    publish_result publish(std::vector<telemetry> items) {
        auto p = std::make_shared<std::promise<publish_result>>();
        auto f = p->get_future();
        bus->publish(batch_of(std::move(items)), [p](publish_result r) { p->set_value(r); });
        EXPECT_EQ(f.wait_for(10s), std::future_status::ready);
        return f.get();
    }
};

// Undoes a SIGSTOP whatever the test's outcome.
struct thaw_guard {
    pid_t pid;
    ~thaw_guard() { ::kill(pid, SIGCONT); }
};

// One broker case at a time, across processes too (ctest -j runs each case on its own): a
// case that freezes or stops the broker must not fail its neighbours.
class broker_lock {
public:
    broker_lock() {
        auto path = env("KAMEA_RABBITMQ_HOME") + "/tests.lock";
        fd_ = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
        if (fd_ >= 0) {
            ::flock(fd_, LOCK_EX);
        }
    }
    ~broker_lock() {
        if (fd_ >= 0) {
            ::close(fd_); // releases the lock
        }
    }
    broker_lock(const broker_lock&) = delete;
    broker_lock& operator=(const broker_lock&) = delete;

private:
    int fd_ = -1;
};

class amqp_bus_broker : public ::testing::Test {
protected:
    void SetUp() override {
        if (env("KAMEA_AMQP_URL").empty()) {
            GTEST_SKIP() << "no broker: scripts/rabbitmq.sh start <dir>, then export the variables of <dir>/env";
        }
        if (!env("KAMEA_RABBITMQ_HOME").empty()) {
            lock_ = std::make_unique<broker_lock>();
        }
        options.urls = kamea::bus::parse_url_list(env("KAMEA_AMQP_URL"));
        // An exchange per test: cases do not see each other's bindings.
        options.exchange = std::string("kamea-test-") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
        options.heartbeat = 2s;
        options.unbind_linger = 300ms;
        options.probe_interval = 1000ms;
        options.reconnect_min = 50ms;
        options.reconnect_max = 500ms;
    }

    std::unique_ptr<broker_lock> lock_; // released after the case's buses are gone
    amqp_options options;
};

} // namespace

TEST_F(amqp_bus_broker, a_watched_pair_receives_a_published_telemetry_once_untouched) {
    instance a(options);
    ASSERT_TRUE(a.connected());
    EXPECT_EQ(a.bus->status().node.find("guest:guest"), std::string::npos);
    device_key k{"acme", "dev.1"};
    ASSERT_EQ(a.watch(k), watch_result::bound);
    EXPECT_EQ(a.stats.bindings.load(), 1);
    auto body = body_of(k, 1);
    // Ingested 100 ms ago: the time travels as wall-clock time and comes back as this
    // process's steady time (core/ingest_clock.hpp), exact to the clock reads in between.
    auto ingested = kamea::core::steady_now_ns() - 100'000'000;
    ASSERT_EQ(a.publish({telemetry{k, body, ingested}}), publish_result::confirmed);
    ASSERT_TRUE(eventually([&] { return a.in.size() == 1; }, 5s));
    std::this_thread::sleep_for(200ms);
    std::lock_guard lock(a.in.mutex);
    ASSERT_EQ(a.in.got.size(), 1U);
    EXPECT_EQ(a.in.got[0].json, body);
    EXPECT_EQ(a.in.got[0].key, k);
    EXPECT_LE(std::llabs(a.in.got[0].ingested_ns - ingested), 5'000'000);
    EXPECT_EQ(a.stats.deliveries_in.load(), 1U);
    EXPECT_GE(a.stats.publish_confirms.load(), 1U);
}

TEST_F(amqp_bus_broker, two_instances_each_get_only_what_they_watch) {
    instance a(options);
    instance b(options);
    ASSERT_TRUE(a.connected());
    ASSERT_TRUE(b.connected());
    device_key ka{"t", "for-a"};
    device_key kb{"t", "for-b"};
    ASSERT_EQ(a.watch(ka), watch_result::bound);
    ASSERT_EQ(b.watch(kb), watch_result::bound);
    std::vector<telemetry> items;
    for (int i = 0; i < 20; ++i) {
        items.push_back({i % 2 == 0 ? ka : kb, body_of(i % 2 == 0 ? ka : kb, i), 0});
    }
    ASSERT_EQ(b.publish(items), publish_result::confirmed);
    ASSERT_TRUE(eventually([&] { return a.in.size() == 10 && b.in.size() == 10; }, 5s));
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(a.in.count_for("for-a"), 10U);
    EXPECT_EQ(b.in.count_for("for-b"), 10U);
    std::lock_guard lock(a.in.mutex);
    for (std::size_t i = 0; i < a.in.got.size(); ++i) { // publish order is kept
        EXPECT_EQ(a.in.got[i].json, body_of(ka, static_cast<int>(2 * i)));
    }
}

TEST_F(amqp_bus_broker, malformed_messages_are_dropped_and_counted) {
    instance a(options);
    ASSERT_TRUE(a.connected());
    device_key k{"t", "d"};
    ASSERT_EQ(a.watch(k), watch_result::bound);
    auto key = kamea::bus::routing_key(k);
    publish_raw(options.exchange, key, "not json");
    publish_raw(options.exchange, key, R"({"tenantId":"t"})");
    publish_raw(options.exchange, key, R"([1,2])");
    publish_raw(options.exchange, key, body_of(k, 7));
    ASSERT_TRUE(eventually([&] { return a.in.size() == 1; }, 5s));
    EXPECT_EQ(a.stats.malformed_dropped.load(), 3U);
    EXPECT_EQ(a.stats.deliveries_in.load(), 1U);
    std::lock_guard lock(a.in.mutex);
    EXPECT_EQ(a.in.got[0].json, body_of(k, 7));
    EXPECT_GT(a.in.got[0].ingested_ns, 0); // no header: the receive time
}

TEST_F(amqp_bus_broker, an_unwatched_key_is_unbound_after_the_linger) {
    instance a(options);
    ASSERT_TRUE(a.connected());
    device_key k{"t", "lingering"};
    ASSERT_EQ(a.watch(k), watch_result::bound);
    ASSERT_EQ(a.watch(k), watch_result::bound); // a second shard
    a.bus->unwatch(k);
    a.bus->unwatch(k);
    std::this_thread::sleep_for(100ms);
    EXPECT_EQ(a.stats.bindings.load(), 1); // still lingering
    ASSERT_TRUE(eventually([&] { return a.stats.unbinds.load() == 1; }, 3s));
    EXPECT_EQ(a.stats.bindings.load(), 0);
    auto keys = bound_keys(options.exchange);
    EXPECT_EQ(std::count(keys.begin(), keys.end(), "t.lingering"), 0);
    EXPECT_EQ(keys.size(), 1U); // the probe key only
}

TEST_F(amqp_bus_broker, the_binding_budget_refuses_new_keys) {
    options.max_bindings = 2;
    instance a(options);
    ASSERT_TRUE(a.connected());
    EXPECT_EQ(a.watch({"t", "1"}), watch_result::bound);
    EXPECT_EQ(a.watch({"t", "2"}), watch_result::bound);
    EXPECT_EQ(a.watch({"t", "3"}), watch_result::refused);
    EXPECT_EQ(a.stats.bindings_refused.load(), 1U);
}

TEST_F(amqp_bus_broker, stop_unbinds_every_key_explicitly) {
    instance a(options);
    ASSERT_TRUE(a.connected());
    std::vector<std::future<watch_result>> answers;
    for (int i = 0; i < 600; ++i) { // more than one pipelined batch
        auto p = std::make_shared<std::promise<watch_result>>();
        answers.push_back(p->get_future());
        a.bus->watch({"t", "k" + std::to_string(i)}, [p](watch_result r) { p->set_value(r); });
    }
    for (auto& f : answers) {
        ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
        ASSERT_EQ(f.get(), watch_result::bound);
    }
    EXPECT_EQ(a.stats.bindings.load(), 600);
    auto started = std::chrono::steady_clock::now();
    a.bus->stop(5s);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
    EXPECT_EQ(a.stats.unbinds.load(), 600U);
    EXPECT_EQ(a.bus->status().state, kamea::core::bus_state::disconnected);
    auto before = a.in.size();
    publish_raw(options.exchange, "t.k1", body_of({"t", "k1"}, 1));
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(a.in.size(), before); // nothing after stop()
}

TEST_F(amqp_bus_broker, a_broker_restart_is_survived) {
    instance a(options);
    ASSERT_TRUE(a.connected());
    device_key before{"t", "before"};
    device_key during{"t", "during"};
    ASSERT_EQ(a.watch(before), watch_result::bound);

    rabbitmqctl("stop_app");
    ASSERT_TRUE(eventually([&] { return a.bus->status().state != kamea::core::bus_state::connected; }, 10s));
    ASSERT_TRUE(eventually(
        [&] {
            return a.publish({telemetry{before, body_of(before, 0), 0}}) == publish_result::unavailable;
        },
        5s));
    EXPECT_EQ(a.watch(during), watch_result::deferred);
    rabbitmqctl("start_app");

    ASSERT_TRUE(a.connected(30s));
    ASSERT_TRUE(eventually([&] { return a.stats.bindings.load() == 2; }, 10s));
    EXPECT_GE(a.stats.reconnects.load(), 1U);
    ASSERT_EQ(a.publish({telemetry{before, body_of(before, 1), 0}, telemetry{during, body_of(during, 2), 0}}),
              publish_result::confirmed);
    ASSERT_TRUE(eventually([&] { return a.in.count_for("before") == 1 && a.in.count_for("during") == 1; }, 5s));
}

TEST_F(amqp_bus_broker, a_frozen_broker_is_detected_by_the_probe) {
    auto pid = static_cast<pid_t>(std::atoi(env("KAMEA_RABBITMQ_PID").c_str()));
    if (pid <= 0) {
        GTEST_SKIP() << "KAMEA_RABBITMQ_PID is not set";
    }
    options.heartbeat = 30s; // the probe must find it first
    instance a(options);
    ASSERT_TRUE(a.connected());
    device_key k{"t", "frozen"};
    ASSERT_EQ(a.watch(k), watch_result::bound);
    {
        ASSERT_EQ(::kill(pid, SIGSTOP), 0);
        thaw_guard thaw{pid};
        // Idle 1 s, then the probe's 1 s to come back, then a little slack.
        ASSERT_TRUE(eventually([&] { return a.stats.probes_lost.load() >= 1; }, 6s));
        EXPECT_NE(a.bus->status().state, kamea::core::bus_state::connected);
    }
    ASSERT_TRUE(a.connected(30s));
    ASSERT_TRUE(eventually([&] { return a.stats.bindings.load() == 1; }, 10s));
    ASSERT_EQ(a.publish({telemetry{k, body_of(k, 1), 0}}), publish_result::confirmed);
    ASSERT_TRUE(eventually([&] { return a.in.count_for("frozen") == 1; }, 5s));
}

TEST_F(amqp_bus_broker, losing_a_cluster_node_fails_over_to_the_next_url) {
    if (env("KAMEA_AMQP_URL2").empty()) {
        GTEST_SKIP() << "no second node: scripts/rabbitmq.sh cluster <dir>";
    }
    options.urls = kamea::bus::parse_url_list(env("KAMEA_AMQP_URL") + "," + env("KAMEA_AMQP_URL2"));
    instance a(options);
    ASSERT_TRUE(a.connected());
    auto first = a.bus->status().node;
    device_key k{"t", "failover"};
    ASSERT_EQ(a.watch(k), watch_result::bound);

    auto stopped = rabbitmqctl("stop_app"); // node 1
    struct restart_guard {
        ~restart_guard() { rabbitmqctl("start_app"); }
    } restart;
    auto second = kamea::bus::redact_url(env("KAMEA_AMQP_URL2"));
    ASSERT_TRUE(eventually([&] { return a.bus->status().node == second; }, 20s)) << stopped;
    ASSERT_TRUE(a.connected(20s));
    ASSERT_TRUE(eventually([&] { return a.stats.bindings.load() == 1; }, 10s));
    ASSERT_EQ(a.publish({telemetry{k, body_of(k, 1), 0}}), publish_result::confirmed);
    ASSERT_TRUE(eventually([&] { return a.in.count_for("failover") == 1; }, 5s));
}

TEST_F(amqp_bus_broker, tls_verifies_the_broker_and_may_present_a_client_certificate) {
    if (env("KAMEA_AMQPS_URL").empty()) {
        GTEST_SKIP() << "no TLS listener (scripts/rabbitmq.sh writes KAMEA_AMQPS_URL)";
    }
    options.urls = kamea::bus::parse_url_list(env("KAMEA_AMQPS_URL"));
    options.ca_file = env("KAMEA_AMQP_CA");
    options.cert_file = env("KAMEA_AMQP_CLIENT_CERT");
    options.key_file = env("KAMEA_AMQP_CLIENT_KEY");
    {
        instance a(options);
        ASSERT_TRUE(a.connected());
        device_key k{"t", "tls"};
        ASSERT_EQ(a.watch(k), watch_result::bound);
        ASSERT_EQ(a.publish({telemetry{k, body_of(k, 1), 0}}), publish_result::confirmed);
        ASSERT_TRUE(eventually([&] { return a.in.count_for("tls") == 1; }, 5s));
    }
    // A broker whose certificate the CA did not sign is never connected to.
    options.ca_file = "/etc/ssl/certs/ca-certificates.crt";
    options.cert_file.clear();
    options.key_file.clear();
    instance b(options);
    EXPECT_FALSE(b.connected(1500ms));
}

TEST_F(amqp_bus_broker, a_burst_arrives_complete_and_in_order) {
    instance a(options);
    ASSERT_TRUE(a.connected());
    device_key k{"t", "burst"};
    ASSERT_EQ(a.watch(k), watch_result::bound);
    constexpr int batches = 50;
    constexpr int per_batch = 100;
    std::atomic<int> confirmed{0};
    auto started = std::chrono::steady_clock::now();
    for (int b = 0; b < batches; ++b) {
        std::vector<telemetry> items;
        for (int i = 0; i < per_batch; ++i) {
            items.push_back({k, body_of(k, b * per_batch + i), 0});
        }
        a.bus->publish(batch_of(std::move(items)), [&](publish_result r) {
            if (r == publish_result::confirmed) {
                ++confirmed;
            }
        });
    }
    ASSERT_TRUE(eventually([&] { return confirmed.load() == batches; }, 20s));
    ASSERT_TRUE(eventually([&] { return a.in.size() == batches * per_batch; }, 20s));
    auto took = std::chrono::steady_clock::now() - started;
    std::lock_guard lock(a.in.mutex);
    for (int i = 0; i < batches * per_batch; ++i) {
        ASSERT_EQ(a.in.got[static_cast<std::size_t>(i)].json, body_of(k, i));
    }
    std::cout << "burst: " << batches * per_batch << " telemetries confirmed and delivered in "
              << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms, " << a.in.batches
              << " delivery batches\n";
}

TEST_F(amqp_bus_broker, a_frozen_broker_is_detected_by_missing_heartbeats) {
    auto pid = static_cast<pid_t>(std::atoi(env("KAMEA_RABBITMQ_PID").c_str()));
    if (pid <= 0) {
        GTEST_SKIP() << "KAMEA_RABBITMQ_PID is not set";
    }
    options.heartbeat = 1s;
    options.probe_interval = 60s; // the heartbeats must find it first
    instance a(options);
    ASSERT_TRUE(a.connected());
    {
        ASSERT_EQ(::kill(pid, SIGSTOP), 0);
        thaw_guard thaw{pid};
        // Nothing received for 2 heartbeats + 1 s.
        ASSERT_TRUE(eventually([&] { return a.bus->status().state != kamea::core::bus_state::connected; }, 6s));
    }
    EXPECT_EQ(a.stats.probes_lost.load(), 0U);
    ASSERT_TRUE(a.connected(30s));
    EXPECT_GE(a.stats.reconnects.load(), 1U);
}

TEST_F(amqp_bus_broker, a_topic_exchange_and_long_ids_route_too) {
    options.exchange_type = "topic";
    instance a(options);
    ASSERT_TRUE(a.connected());
    device_key plain{"acme.eu", "dev:1"};
    device_key long_ids{std::string(128, 'T'), std::string(128, 'd')};
    ASSERT_EQ(a.watch(plain), watch_result::bound);
    ASSERT_EQ(a.watch(long_ids), watch_result::bound);
    auto keys = bound_keys(options.exchange);
    EXPECT_EQ(std::count(keys.begin(), keys.end(), kamea::bus::routing_key(long_ids)), 1);
    EXPECT_EQ(kamea::bus::routing_key(long_ids).front(), '~');
    ASSERT_EQ(a.publish({telemetry{plain, body_of(plain, 1), 0}, telemetry{long_ids, body_of(long_ids, 2), 0}}),
              publish_result::confirmed);
    ASSERT_TRUE(eventually([&] { return a.in.size() == 2; }, 5s));
    std::lock_guard lock(a.in.mutex);
    EXPECT_EQ(a.in.got[0].key, plain);
    EXPECT_EQ(a.in.got[1].key, long_ids); // read from the body, not from the key
}

TEST_F(amqp_bus_broker, flush_answers_after_every_earlier_publish_came_back) {
    instance a(options);
    ASSERT_TRUE(a.connected());
    device_key k{"t", "fenced"};
    ASSERT_EQ(a.watch(k), watch_result::bound);
    constexpr int batches = 20;
    constexpr int per_batch = 100;
    for (int b = 0; b < batches; ++b) {
        std::vector<telemetry> items;
        for (int i = 0; i < per_batch; ++i) {
            items.push_back({k, body_of(k, b * per_batch + i), 0});
        }
        a.bus->publish(batch_of(std::move(items)), [](publish_result) {});
    }
    // Asked before any confirm: the fence queues behind the batches, and its answer comes with
    // every one of them handed over already.
    auto p = std::make_shared<std::promise<std::size_t>>();
    auto f = p->get_future();
    a.bus->flush([p, &a] { p->set_value(a.in.size()); });
    ASSERT_EQ(f.wait_for(20s), std::future_status::ready);
    EXPECT_EQ(f.get(), static_cast<std::size_t>(batches * per_batch));
}

TEST_F(amqp_bus_broker, flush_without_a_broker_answers_at_once) {
    options.urls = {"amqp://guest:guest@127.0.0.1:1/"}; // nothing listens there
    instance a(options);
    auto p = std::make_shared<std::promise<void>>();
    auto f = p->get_future();
    a.bus->flush([p] { p->set_value(); });
    EXPECT_EQ(f.wait_for(2s), std::future_status::ready);
}
