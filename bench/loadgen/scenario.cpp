#include "loadgen/scenario.hpp"

#include "loadgen/client.hpp"
#include "loadgen/worker.hpp"

#include <charconv>
#include <chrono>
#include <stdexcept>

namespace kamea::loadgen {

namespace {

constexpr std::uint64_t subscribe_ack_id = 1;

// The integer after `"<key>":` in a flat JSON object text, if any. The publisher writes these
// fields as plain integers; a server may re-encode the object (the reference does) but keeps
// integers below 2^53 exact, and larger ones (ns timestamps) within a microsecond.
std::optional<std::int64_t> find_int(std::string_view text, std::string_view quoted_key_colon) {
    auto at = text.find(quoted_key_colon);
    if (at == std::string_view::npos) {
        return std::nullopt;
    }
    const char* p = text.data() + at + quoted_key_colon.size();
    const char* end = text.data() + text.size();
    while (p < end && *p == ' ') {
        ++p;
    }
    std::int64_t v = 0;
    auto [ptr, ec] = std::from_chars(p, end, v);
    if (ec != std::errc{}) {
        return std::nullopt;
    }
    return v;
}

std::int64_t unix_ns_now() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

} // namespace

subscribe_scenario::subscribe_scenario(std::size_t devices, std::string tenant, std::size_t first_index,
                                       std::size_t connections)
    : devices_(devices == 0 ? 1 : devices), tenant_(std::move(tenant)), first_index_(first_index), last_(connections) {}

void subscribe_scenario::on_connected(client& c) {
    std::string args = R"(["telemetries",{"deviceId":"dev-)";
    args += std::to_string(c.index() % devices_);
    args += R"(","tenantId":")";
    args += tenant_; // [A-Za-z0-9._:-]: no escaping needed
    args += R"("}])";
    c.emit(args, subscribe_ack_id);
}

void subscribe_scenario::on_ack(client& c, std::uint64_t id, std::string_view args) {
    if (id != subscribe_ack_id) {
        return;
    }
    auto& stats = c.owner().stats();
    if (args == R"([{"status":"ok"}])") {
        stats.subscribed.add();
        stats.last_subscribed_ns.store(
            std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
                .count(),
            std::memory_order_relaxed);
    } else {
        stats.subscribe_errors.add();
        ++stats.subscribe_error_kinds[std::string(args.substr(0, 160))];
    }
}

void subscribe_scenario::on_event(client& c, std::string_view args, std::optional<std::uint64_t> ack_id) {
    (void)ack_id;
    auto& stats = c.owner().stats();
    constexpr std::string_view prefix = R"(["telemetries",)";
    if (args.substr(0, prefix.size()) != prefix) {
        auto comma = args.find(',');
        ++stats.other_events[std::string(args.substr(0, std::min<std::size_t>(comma, 60)))];
        return;
    }
    stats.telemetries.add();
    auto ts = find_int(args, R"("ts":)");
    if (!ts) {
        return;
    }
    auto now = unix_ns_now();
    std::uint64_t latency = now > *ts ? static_cast<std::uint64_t>(now - *ts) : 0;
    stats.telemetry_latency.record(latency);
    auto step = find_int(args, R"("step":)").value_or(0);
    stats.telemetry_latency_by_step[step].record(latency);
    ++stats.telemetries_by_step[step];
    auto seq = find_int(args, R"("seq":)");
    if (!seq) {
        return;
    }
    auto& last = last_.at(c.index() - first_index_);
    if (step < last.step || (step == last.step && *seq <= last.seq)) {
        stats.out_of_order.add();
        return;
    }
    std::int64_t expected = step == last.step ? last.seq + 1 : 0;
    if (*seq > expected) {
        stats.gaps.add(static_cast<std::uint64_t>(*seq - expected));
    }
    last.step = step;
    last.seq = *seq;
}

std::unique_ptr<scenario> make_scenario(const options& opts) {
    if (opts.scenario == "idle") {
        return std::make_unique<idle_scenario>();
    }
    if (opts.scenario == "subscribe") {
        return std::make_unique<subscribe_scenario>(opts.devices, opts.tenant, opts.first_index, opts.connections);
    }
    throw std::invalid_argument("unknown scenario " + opts.scenario);
}

} // namespace kamea::loadgen
