// kamea-loadgen: opens many Socket.IO v4 WebSocket clients against one server, keeps them
// running, measures the server from /proc, and prints one JSON report on stdout. Progress and
// the "ready" line (every connection established or failed) go to stderr as JSON lines, so a
// script can wait for "ready" before measuring. See bench/README.md.

#include "loadgen/options.hpp"
#include "loadgen/proc_sampler.hpp"
#include "loadgen/scenario.hpp"
#include "loadgen/stats.hpp"
#include "loadgen/worker.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>

#include <cmath>
#include <iostream>
#include <thread>

#include <sys/resource.h>
#include <unistd.h>

namespace {

using namespace kamea::loadgen;
namespace asio = boost::asio;
namespace json = boost::json;
using steady = std::chrono::steady_clock;

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

double round3(double v) {
    return std::round(v * 1000) / 1000;
}

double seconds(steady::duration d) {
    return std::chrono::duration<double>(d).count();
}

// Each connection is one descriptor: lift the soft limit to the hard one, and say so when
// even that is too small.
void raise_fd_limit(std::size_t connections) {
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &lim);
    }
    if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY && connections + 32 > lim.rlim_cur) {
        std::cerr << json::serialize(
                         json::object{{"event", "warning"},
                                      {"message", "open-file limit below connections + 32: some connections "
                                                  "will fail; use several processes"},
                                      {"limit", lim.rlim_cur}})
                  << std::endl;
    }
}

struct totals {
    std::uint64_t attempted = 0, established = 0, failed = 0, dropped = 0, pings = 0, events = 0, acks = 0,
                  frames_in = 0, bytes_in = 0, bytes_out = 0, subscribed = 0, subscribe_errors = 0, telemetries = 0,
                  out_of_order = 0, gaps = 0;
    std::int64_t last_established_ns = 0;
    std::int64_t last_subscribed_ns = 0;
};

class controller {
public:
    controller(const options& opts, std::vector<std::unique_ptr<worker>>& workers) : opts_(opts), workers_(workers) {}

    int run() {
        started_ = steady::now();
        started_unix_ms_ = unix_ms_now();
        sample("start");
        std::vector<std::thread> threads;
        threads.reserve(workers_.size());
        for (auto& w : workers_) {
            threads.emplace_back([p = w.get()] { p->run(); });
        }
        signals_.async_wait([this](boost::system::error_code ec, int) {
            if (!ec) {
                stop_requested_ = true;
                tick_.cancel();
            }
        });
        asio::co_spawn(ctx_, loop(), asio::detached);
        ctx_.run();
        for (auto& w : workers_) {
            w->stop();
        }
        for (auto& t : threads) {
            t.join();
        }
        std::cout << json::serialize(report()) << std::endl;
        return 0;
    }

private:
    asio::awaitable<void> loop() {
        auto next_progress = started_ + opts_.progress_interval;
        auto next_sample = started_ + opts_.sample_interval;
        steady::time_point deadline = steady::time_point::max();
        while (!stop_requested_) {
            auto now = steady::now();
            auto t = sum();
            if (!ready_ && settled(t)) {
                ready_ = true;
                ready_at_ = now;
                ready_self_cpu_s_ = self_cpu().cpu_s;
                sample("ready");
                auto line = progress_json("ready", t);
                line["connect_rate_per_s"] = round3(connect_rate(t));
                std::cerr << json::serialize(line) << std::endl;
                if (opts_.hold_s > 0) {
                    deadline =
                        now + std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(opts_.hold_s));
                }
            }
            if (now >= deadline) {
                break;
            }
            if (opts_.progress_interval.count() > 0 && now >= next_progress) {
                std::cerr << json::serialize(progress_json("progress", t)) << std::endl;
                next_progress += opts_.progress_interval;
            }
            if (opts_.server_pid != 0 && now >= next_sample) {
                sample({});
                next_sample += opts_.sample_interval;
            }
            tick_.expires_after(std::chrono::milliseconds(50));
            co_await tick_.async_wait(nothrow);
        }
        sample("end");
        signals_.cancel();
    }

    totals sum() const {
        totals t;
        for (const auto& w : workers_) {
            const auto& s = w->stats();
            t.attempted += s.attempted.get();
            t.established += s.established.get();
            t.failed += s.failed.get();
            t.dropped += s.dropped.get();
            t.pings += s.pings.get();
            t.events += s.events.get();
            t.acks += s.acks.get();
            t.frames_in += s.frames_in.get();
            t.bytes_in += s.bytes_in.get();
            t.bytes_out += s.bytes_out.get();
            t.subscribed += s.subscribed.get();
            t.subscribe_errors += s.subscribe_errors.get();
            t.telemetries += s.telemetries.get();
            t.out_of_order += s.out_of_order.get();
            t.gaps += s.gaps.get();
            t.last_subscribed_ns = std::max(t.last_subscribed_ns, s.last_subscribed_ns.load(std::memory_order_relaxed));
            t.last_established_ns =
                std::max(t.last_established_ns, s.last_established_ns.load(std::memory_order_relaxed));
        }
        return t;
    }

    // Every connection established or failed; with subscribe, every established one has also
    // had its subscription answered (or was dropped).
    bool settled(const totals& t) const {
        if (t.established + t.failed < opts_.connections) {
            return false;
        }
        if (opts_.scenario == "subscribe") {
            return t.subscribed + t.subscribe_errors + t.dropped >= t.established;
        }
        return true;
    }

    double subscribe_duration(const totals& t) const {
        if (t.last_subscribed_ns == 0) {
            return 0;
        }
        steady::time_point last{
            std::chrono::duration_cast<steady::duration>(std::chrono::nanoseconds(t.last_subscribed_ns))};
        return seconds(last - started_);
    }

    // Seconds from the start to the last established connection.
    double connect_duration(const totals& t) const {
        if (t.last_established_ns == 0) {
            return 0;
        }
        steady::time_point last{
            std::chrono::duration_cast<steady::duration>(std::chrono::nanoseconds(t.last_established_ns))};
        return seconds(last - started_);
    }

    double connect_rate(const totals& t) const {
        double d = connect_duration(t);
        return d > 0 ? static_cast<double>(t.established) / d : 0;
    }

    json::object progress_json(std::string_view event, const totals& t) const {
        json::object o{{"event", event},
                       {"t_s", round3(seconds(steady::now() - started_))},
                       {"attempted", t.attempted},
                       {"established", t.established},
                       {"failed", t.failed},
                       {"dropped", t.dropped},
                       {"open", t.established - t.dropped},
                       {"pings", t.pings},
                       {"unix_ms", unix_ms_now()}};
        if (opts_.scenario == "subscribe") {
            o["subscribed"] = t.subscribed;
            o["subscribe_errors"] = t.subscribe_errors;
            o["telemetries"] = t.telemetries;
        }
        if (!opts_.label.empty()) {
            o["label"] = opts_.label;
        }
        if (last_sample_) {
            o["server_rss_kib"] = last_sample_->rss_kib;
            o["server_cpu_s"] = round3(last_sample_->cpu_s);
        }
        return o;
    }

    void sample(std::string_view mark) {
        if (opts_.server_pid == 0) {
            return;
        }
        auto s = sample_process(opts_.server_pid, opts_.count_fds);
        if (!s) {
            server_gone_ = true;
            return;
        }
        s->t_s = seconds(steady::now() - started_);
        last_sample_ = s;
        samples_.push_back(*s);
        if (!mark.empty()) {
            marks_[std::string(mark)] = *s;
        }
    }

    static std::int64_t unix_ms_now() {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    }

    json::object report() const {
        auto t = sum();
        std::map<std::string, std::uint64_t> failures;
        std::map<std::string, std::uint64_t> drops;
        latency_histogram connect_latency;
        latency_histogram telemetry_latency;
        std::map<std::int64_t, latency_histogram> by_step;
        std::map<std::int64_t, std::uint64_t> count_by_step;
        std::map<std::string, std::uint64_t> subscribe_errors;
        std::map<std::string, std::uint64_t> other_events;
        for (const auto& w : workers_) {
            const auto& st = w->stats();
            telemetry_latency.merge(st.telemetry_latency);
            for (const auto& [k, v] : st.telemetry_latency_by_step) {
                by_step[k].merge(v);
            }
            for (const auto& [k, v] : st.telemetries_by_step) {
                count_by_step[k] += v;
            }
            for (const auto& [k, v] : st.subscribe_error_kinds) {
                subscribe_errors[k] += v;
            }
            for (const auto& [k, v] : st.other_events) {
                other_events[k] += v;
            }
        }
        for (const auto& w : workers_) {
            for (const auto& [k, v] : w->stats().failures) {
                failures[k] += v;
            }
            for (const auto& [k, v] : w->stats().drops) {
                drops[k] += v;
            }
            connect_latency.merge(w->stats().connect_latency);
        }
        json::object failures_json;
        for (const auto& [k, v] : failures) {
            failures_json[k] = v;
        }
        json::object drops_json;
        for (const auto& [k, v] : drops) {
            drops_json[k] = v;
        }
        json::array sources;
        for (const auto& a : opts_.sources) {
            sources.emplace_back(a.to_string());
        }
        double duration = connect_duration(t);

        json::object r{
            {"tool", "kamea-loadgen"},
            {"label", opts_.label},
            {"scenario", opts_.scenario},
            {"target", {{"host", opts_.host}, {"port", opts_.port}, {"path", opts_.path}, {"namespace", opts_.nsp}}},
            {"settings",
             {{"connections", opts_.connections},
              {"rate", opts_.rate},
              {"concurrency", opts_.concurrency},
              {"threads", opts_.threads},
              {"sources", sources},
              {"handshake_timeout_ms", opts_.handshake_timeout.count()},
              {"hold_s", opts_.hold_s}}},
            {"started_unix_ms", started_unix_ms_},
            {"ready", ready_},
            {"ready_after_s", ready_ ? round3(seconds(ready_at_ - started_)) : 0.0},
            {"duration_s", round3(seconds(steady::now() - started_))},
            {"connections",
             {{"attempted", t.attempted},
              {"established", t.established},
              {"failed", t.failed},
              {"dropped", t.dropped},
              {"open", t.established - t.dropped}}},
            {"errors", t.failed + t.dropped},
            {"failures", failures_json},
            {"drops", drops_json},
            {"connect",
             {{"duration_s", round3(duration)},
              {"last_established_unix_ms",
               duration > 0 ? started_unix_ms_ + static_cast<std::int64_t>(duration * 1000) : 0},
              {"rate_per_s", round3(connect_rate(t))},
              {"latency", connect_latency.to_json_ms()}}},
            {"traffic",
             {{"pings_answered", t.pings},
              {"events", t.events},
              {"acks", t.acks},
              {"frames_in", t.frames_in},
              {"bytes_in", t.bytes_in},
              {"bytes_out", t.bytes_out}}},
        };
        if (opts_.scenario == "subscribe") {
            auto to_obj = [](const std::map<std::string, std::uint64_t>& m) {
                json::object o;
                for (const auto& [k, v] : m) {
                    o[k] = v;
                }
                return o;
            };
            double sd = subscribe_duration(t);
            r["subscribe"] = {
                {"devices", opts_.devices},
                {"tenant", opts_.tenant},
                {"ok", t.subscribed},
                {"errors", t.subscribe_errors},
                {"error_kinds", to_obj(subscribe_errors)},
                {"duration_s", round3(sd)},
                {"last_subscribed_unix_ms", sd > 0 ? started_unix_ms_ + static_cast<std::int64_t>(sd * 1000) : 0},
                {"rate_per_s", sd > 0 ? round3(static_cast<double>(t.subscribed) / sd) : 0.0}};
            json::object steps;
            for (const auto& [k, h] : by_step) {
                auto o = h.to_json_ms();
                o["received"] = count_by_step[k];
                steps[std::to_string(k)] = std::move(o);
            }
            r["telemetries"] = {{"received", t.telemetries},
                                {"out_of_order", t.out_of_order},
                                {"gaps", t.gaps},
                                {"other_events", to_obj(other_events)},
                                {"latency", telemetry_latency.to_json_ms()},
                                {"by_step", std::move(steps)}};
        }
        if (opts_.server_pid != 0) {
            json::object server{{"pid", opts_.server_pid}, {"gone", server_gone_}};
            for (const auto& [k, v] : marks_) {
                server[k] = v.to_json();
            }
            auto start = marks_.find("start");
            auto ready = marks_.find("ready");
            if (start != marks_.end() && ready != marks_.end()) {
                server["cpu_s_connecting"] = round3(ready->second.cpu_s - start->second.cpu_s);
                server["rss_kib_added_connecting"] =
                    static_cast<std::int64_t>(ready->second.rss_kib) - static_cast<std::int64_t>(start->second.rss_kib);
            }
            json::array samples;
            for (const auto& s : samples_) {
                samples.emplace_back(s.to_json());
            }
            server["samples"] = std::move(samples);
            r["server"] = std::move(server);
        }
        auto self = self_cpu();
        r["loadgen"] = {{"pid", ::getpid()},
                        {"cpu_s", round3(self.cpu_s)},
                        {"user_s", round3(self.user_s)},
                        {"system_s", round3(self.system_s)},
                        {"cpu_s_connecting", round3(ready_self_cpu_s_)},
                        {"max_rss_kib", self.max_rss_kib}};
        return r;
    }

    struct self_usage {
        double cpu_s, user_s, system_s;
        long max_rss_kib;
    };
    // The load generator's own cost, to tell when it, not the server, is the limit.
    static self_usage self_cpu() {
        rusage ru{};
        ::getrusage(RUSAGE_SELF, &ru);
        auto tv = [](const timeval& v) { return static_cast<double>(v.tv_sec) + static_cast<double>(v.tv_usec) / 1e6; };
        return {tv(ru.ru_utime) + tv(ru.ru_stime), tv(ru.ru_utime), tv(ru.ru_stime), ru.ru_maxrss};
    }

    const options& opts_;
    std::vector<std::unique_ptr<worker>>& workers_;
    asio::io_context ctx_{1};
    asio::signal_set signals_{ctx_, SIGINT, SIGTERM};
    asio::steady_timer tick_{ctx_};
    bool stop_requested_ = false;
    bool ready_ = false;
    bool server_gone_ = false;
    steady::time_point started_;
    steady::time_point ready_at_;
    std::int64_t started_unix_ms_ = 0;
    double ready_self_cpu_s_ = 0;
    std::optional<proc_sample> last_sample_;
    std::vector<proc_sample> samples_;
    std::map<std::string, proc_sample> marks_;
};

} // namespace

int main(int argc, char** argv) {
    int exit_code = 0;
    auto parsed = parse_options(argc, argv, exit_code);
    if (!parsed) {
        return exit_code;
    }
    const options& opts = *parsed;
    raise_fd_limit(opts.connections);

    auto settings = client_settings::from(opts);
    auto threads = static_cast<std::size_t>(std::min<std::size_t>(opts.threads, opts.connections));
    std::vector<std::unique_ptr<worker>> workers;
    std::size_t first = 0;
    for (std::size_t i = 0; i < threads; ++i) {
        std::size_t share = opts.connections / threads + (i < opts.connections % threads ? 1 : 0);
        workers.push_back(std::make_unique<worker>(settings, make_scenario(opts), opts.first_index + first, share,
                                                   opts.rate / static_cast<double>(threads),
                                                   opts.concurrency / threads));
        first += share;
    }
    controller ctl(opts, workers);
    return ctl.run();
}
