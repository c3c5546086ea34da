// kamea-publish: posts telemetries to the ingestion endpoint (contract.md section 7,
// `POST /internal/v1/telemetries`) at a set rate for a bounded time, over keep-alive
// HTTP/1.1 connections, in batches (one JSON array per request), and prints one JSON report
// on stdout. See bench/README.md.
//
// Telemetry i of the run goes to device dev-<i mod devices>, so the rate is spread evenly
// over the devices, and carries
//   "step": --step (which run of the publisher it belongs to),
//   "seq":  i / devices (that device's sequence number in this run, from 0),
//   "ts":   unix time in nanoseconds when its batch was written,
// which the subscribers (kamea-loadgen --scenario subscribe) turn into publish-to-receive
// latency and a per-device order check. A connection waits for each answer before its next
// request, so with one connection (the default) per-device publish order is the order sent,
// and a server that cannot keep up slows the publisher down (the achieved rate shows it).

#include "loadgen/proc_sampler.hpp"
#include "loadgen/stats.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cmath>
#include <iostream>
#include <map>
#include <string>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace json = boost::json;
using steady = std::chrono::steady_clock;
using kamea::loadgen::latency_histogram;

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

struct options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 3001;
    std::string path = "/internal/v1/telemetries";
    std::string token;      // --ingest-token of the server, if set
    double rate = 1000;     // telemetries per second, all connections together
    double duration_s = 10; // sending stops when the next batch would be due after this
    std::size_t devices = 1000;
    std::size_t batch = 50;
    std::string tenant = "bench";
    std::int64_t step = 1;
    unsigned connections = 1;
    int server_pid = 0;
    double timeout_s = 30; // whole run, including waiting for the last answers
};

std::int64_t unix_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}
double round3(double v) {
    return std::round(v * 1000) / 1000;
}
double seconds(steady::duration d) {
    return std::chrono::duration<double>(d).count();
}

class publisher {
public:
    explicit publisher(const options& o) : o_(o) {
        auto addr = asio::ip::make_address(o.host);
        endpoint_ = {addr, o.port};
        host_header_ = (addr.is_v6() ? "[" + o.host + "]" : o.host) + ":" + std::to_string(o.port);
        batches_ = static_cast<std::uint64_t>(std::ceil(o.rate * o.duration_s / static_cast<double>(o.batch)));
    }

    int run() {
        if (o_.server_pid != 0) {
            cpu_start_ = kamea::loadgen::sample_process(o_.server_pid, false);
        }
        start_ = steady::now();
        start_unix_ms_ = unix_ns() / 1'000'000;
        for (unsigned c = 0; c < o_.connections; ++c) {
            asio::co_spawn(ctx_, connection(c), asio::detached);
        }
        ctx_.run_for(std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(o_.timeout_s)));
        timed_out_ = !ctx_.stopped() || active_ > 0;
        end_ = steady::now();
        if (o_.server_pid != 0) {
            cpu_end_ = kamea::loadgen::sample_process(o_.server_pid, false);
        }
        std::cout << json::serialize(report()) << std::endl;
        return 0;
    }

private:
    std::string make_body(std::uint64_t first) {
        std::string body;
        body.reserve(o_.batch * 130);
        body += '[';
        auto ts = std::to_string(unix_ns());
        auto step = std::to_string(o_.step);
        for (std::uint64_t i = first; i < first + o_.batch; ++i) {
            if (i != first) {
                body += ',';
            }
            auto device = i % o_.devices;
            auto seq = i / o_.devices;
            body += R"({"deviceId":"dev-)";
            body += std::to_string(device);
            body += R"(","tenantId":")";
            body += o_.tenant;
            body += R"(","step":)";
            body += step;
            body += R"(,"seq":)";
            body += std::to_string(seq);
            body += R"(,"ts":)";
            body += ts;
            body += R"(,"temperature":)";
            body += std::to_string(15 + static_cast<int>(i % 20));
            body += R"(.5,"humidity":)";
            body += std::to_string(30 + static_cast<int>(i % 50));
            body += '}';
        }
        body += ']';
        return body;
    }

    std::string make_request(const std::string& body) {
        std::string req = "POST " + o_.path + " HTTP/1.1\r\nHost: " + host_header_ +
                          "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                          "\r\n";
        if (!o_.token.empty()) {
            req += "Authorization: Bearer " + o_.token + "\r\n";
        }
        req += "\r\n";
        req += body;
        return req;
    }

    asio::awaitable<void> connection(unsigned index) {
        ++active_;
        asio::ip::tcp::socket socket(ctx_);
        beast::flat_buffer buffer;
        asio::steady_timer timer(ctx_);
        bool connected = false;
        for (std::uint64_t j = index; j < batches_; j += o_.connections) {
            auto due = start_ + std::chrono::duration_cast<steady::duration>(
                                    std::chrono::duration<double>(static_cast<double>(j * o_.batch) / o_.rate));
            auto now = steady::now();
            if (due > now) {
                timer.expires_at(due);
                co_await timer.async_wait(nothrow);
            } else {
                max_behind_s_ = std::max(max_behind_s_, seconds(now - due));
            }
            if (!connected) {
                boost::system::error_code ec;
                socket = asio::ip::tcp::socket(ctx_);
                auto [cec] = co_await socket.async_connect(endpoint_, nothrow);
                if (cec) {
                    ++io_errors_["connect: " + cec.message()];
                    continue;
                }
                socket.set_option(asio::ip::tcp::no_delay(true), ec);
                buffer.clear();
                connected = true;
            }
            auto body = make_body(j * o_.batch);
            auto request = make_request(body);
            auto sent_at = steady::now();
            ++requests_;
            sent_ += o_.batch;
            auto [wec, wn] = co_await asio::async_write(socket, asio::buffer(request), nothrow);
            if (wec) {
                ++io_errors_["write: " + wec.message()];
                connected = false;
                continue;
            }
            http::response<http::string_body> res;
            auto [rec, rn] = co_await http::async_read(socket, buffer, res, nothrow);
            if (rec) {
                ++io_errors_["read: " + rec.message()];
                connected = false;
                continue;
            }
            request_latency_.record(static_cast<std::uint64_t>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(steady::now() - sent_at).count()));
            ++statuses_[res.result_int()];
            if (res.result_int() == 202) {
                boost::system::error_code jec;
                auto v = json::parse(res.body(), jec);
                const json::value* n = (!jec && v.is_object()) ? v.as_object().if_contains("accepted") : nullptr;
                if (n != nullptr && n->is_int64()) {
                    accepted_ += static_cast<std::uint64_t>(n->as_int64());
                } else {
                    ++io_errors_["202 without accepted"];
                }
            } else if (error_samples_.size() < 5) {
                error_samples_.push_back(std::to_string(res.result_int()) + " " + res.body().substr(0, 200));
            }
            last_answer_ = steady::now();
            if (!res.keep_alive()) {
                connected = false;
            }
        }
        boost::system::error_code ec;
        socket.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
        socket.close(ec);
        if (--active_ == 0) {
            ctx_.stop();
        }
    }

    json::object report() const {
        // The sending window: from the start to the last answer.
        double window = seconds((last_answer_ == steady::time_point{} ? end_ : last_answer_) - start_);
        json::object statuses;
        std::uint64_t non_202 = 0;
        for (const auto& [k, v] : statuses_) {
            statuses[std::to_string(k)] = v;
            if (k != 202) {
                non_202 += v;
            }
        }
        json::object io;
        std::uint64_t io_total = 0;
        for (const auto& [k, v] : io_errors_) {
            io[k] = v;
            io_total += v;
        }
        json::array samples;
        for (const auto& s : error_samples_) {
            samples.emplace_back(s);
        }
        json::object r{
            {"tool", "kamea-publish"},
            {"step", o_.step},
            {"settings",
             {{"rate", o_.rate},
              {"duration_s", o_.duration_s},
              {"devices", o_.devices},
              {"batch", o_.batch},
              {"connections", o_.connections}}},
            {"start_unix_ms", start_unix_ms_},
            {"end_unix_ms", start_unix_ms_ + static_cast<std::int64_t>(window * 1000)},
            {"window_s", round3(window)},
            {"timed_out", timed_out_},
            {"requests", requests_},
            {"sent", sent_},
            {"accepted", accepted_},
            {"rate_achieved", window > 0 ? round3(static_cast<double>(accepted_) / window) : 0.0},
            {"max_behind_s", round3(max_behind_s_)},
            {"statuses", statuses},
            {"http_errors", non_202},
            {"io_errors", io},
            {"errors", non_202 + io_total},
            {"error_samples", samples},
            {"request_latency", request_latency_.to_json_ms()},
        };
        if (cpu_start_ && cpu_end_) {
            r["server"] = {{"pid", o_.server_pid},
                           {"cpu_s", round3(cpu_end_->cpu_s - cpu_start_->cpu_s)},
                           {"user_s", round3(cpu_end_->user_s - cpu_start_->user_s)},
                           {"system_s", round3(cpu_end_->system_s - cpu_start_->system_s)},
                           {"rss_kib_start", cpu_start_->rss_kib},
                           {"rss_kib_end", cpu_end_->rss_kib},
                           {"window_s", round3(seconds(end_ - start_))}};
        }
        return r;
    }

    const options& o_;
    asio::io_context ctx_{1};
    asio::ip::tcp::endpoint endpoint_;
    std::string host_header_;
    std::uint64_t batches_ = 0;
    unsigned active_ = 0;
    steady::time_point start_, end_, last_answer_;
    std::int64_t start_unix_ms_ = 0;
    bool timed_out_ = false;
    std::uint64_t requests_ = 0, sent_ = 0, accepted_ = 0;
    double max_behind_s_ = 0;
    std::map<unsigned, std::uint64_t> statuses_;
    std::map<std::string, std::uint64_t> io_errors_;
    std::vector<std::string> error_samples_;
    latency_histogram request_latency_;
    std::optional<kamea::loadgen::proc_sample> cpu_start_, cpu_end_;
};

} // namespace

int main(int argc, char** argv) {
    options o;
    CLI::App app{"kamea-publish: POSTs batches of stamped telemetries to the ingestion endpoint at "
                 "a set rate; one JSON report on stdout."};
    app.option_defaults()->always_capture_default();
    app.add_option("--host", o.host, "Server address (numeric IP) of the internal listener");
    app.add_option("--port", o.port, "Internal listener port")->required();
    app.add_option("--path", o.path, "Ingestion path");
    app.add_option("--token", o.token, "Bearer token for the ingestion endpoint (--ingest-token)");
    app.add_option("--rate", o.rate, "Telemetries per second")->check(CLI::PositiveNumber);
    app.add_option("--duration", o.duration_s, "Seconds of sending")->check(CLI::PositiveNumber);
    app.add_option("--devices", o.devices, "Devices dev-0..dev-<N-1>, in turn")
        ->check(CLI::Range(std::size_t{1}, std::size_t{10000000}));
    app.add_option("--batch", o.batch, "Telemetries per request")
        ->check(CLI::Range(std::size_t{1}, std::size_t{100000}));
    app.add_option("--tenant", o.tenant, "tenantId");
    app.add_option("--step", o.step, "Copied into each telemetry as \"step\"");
    app.add_option("--connections", o.connections, "Keep-alive connections (1 keeps per-device order)")
        ->check(CLI::Range(1U, 64U));
    app.add_option("--server-pid", o.server_pid, "Read this process's CPU seconds from /proc at start and end");
    app.add_option("--timeout", o.timeout_s, "Upper bound of the whole run (s)")->check(CLI::PositiveNumber);
    CLI11_PARSE(app, argc, argv);
    try {
        publisher p(o);
        return p.run();
    } catch (const std::exception& e) {
        std::cerr << "kamea-publish: " << e.what() << '\n';
        return 2;
    }
}
