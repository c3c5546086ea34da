#pragma once
// Counters and latency histograms. Each worker thread owns one `thread_stats` and is its only
// writer; the control thread reads the atomic counters for progress lines, and everything
// else only after the workers have stopped.

#include <boost/json/object.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <string>

namespace kamea::loadgen {

// Log-linear histogram of nanosecond values (32 sub-buckets per power of two: under 3 %
// error), mergeable across threads and processes. Used for connect latency now and for
// publish-to-receive latency in the fan-out scenarios.
class latency_histogram {
public:
    void record(std::uint64_t ns);
    void merge(const latency_histogram& other);
    std::uint64_t count() const { return count_; }
    // Value at quantile q in [0, 1], in nanoseconds (bucket midpoint).
    double quantile_ns(double q) const;
    double mean_ns() const;
    std::uint64_t max_ns() const { return max_; }
    // {"count","mean_ms","p50_ms","p90_ms","p99_ms","p999_ms","max_ms"}
    boost::json::object to_json_ms() const;

private:
    static constexpr unsigned sub_bits = 5;
    static constexpr std::size_t bucket_count = (64 - sub_bits + 1) << sub_bits;
    static std::size_t index_of(std::uint64_t v);
    static double midpoint_of(std::size_t index);

    std::array<std::uint64_t, bucket_count> buckets_{};
    std::uint64_t count_ = 0;
    std::uint64_t max_ = 0;
    long double sum_ = 0;
};

// A counter with one writer: a plain load+store instead of a locked read-modify-write.
class counter {
public:
    void add(std::uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
    std::uint64_t get() const { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> v_{0};
};

struct thread_stats {
    counter attempted;   // connections started
    counter established; // namespace CONNECT acknowledged
    counter failed;      // ended before being established
    counter dropped;     // ended after being established, before the run stopped
    counter pings;       // Engine.IO pings answered
    counter events;      // Socket.IO EVENT packets received
    counter acks;        // Socket.IO ACK packets received
    counter frames_in;
    counter bytes_in;
    counter bytes_out;
    std::atomic<std::int64_t> last_established_ns{0}; // steady clock, since epoch of steady_clock

    // Subscribe scenario (written by the worker; counters read by the control thread).
    counter subscribed;                              // subscription acks {"status":"ok"}
    counter subscribe_errors;                        // any other subscription ack
    counter telemetries;                             // `telemetries` events received
    counter out_of_order;                            // a telemetry older than one already received by that client
    counter gaps;                                    // telemetries of a client's device never received (sequence holes)
    std::atomic<std::int64_t> last_subscribed_ns{0}; // steady clock

    // Written by the worker only; read after it stopped.
    std::map<std::string, std::uint64_t> failures;                       // why a connection was never established
    std::map<std::string, std::uint64_t> drops;                          // why an established connection ended
    latency_histogram connect_latency;                                   // start of TCP connect -> namespace CONNECT
    std::map<std::string, std::uint64_t> subscribe_error_kinds;          // the error acks, by text
    std::map<std::string, std::uint64_t> other_events;                   // events other than telemetries
    latency_histogram telemetry_latency;                                 // publish (its "ts") -> received
    std::map<std::int64_t, latency_histogram> telemetry_latency_by_step; // by its "step" field
    std::map<std::int64_t, std::uint64_t> telemetries_by_step;
};

} // namespace kamea::loadgen
