#include "loadgen/stats.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace kamea::loadgen {

std::size_t latency_histogram::index_of(std::uint64_t v) {
    constexpr std::uint64_t sub_count = 1ULL << sub_bits;
    if (v < sub_count) {
        return static_cast<std::size_t>(v);
    }
    auto exponent = static_cast<unsigned>(std::bit_width(v) - 1); // >= sub_bits
    unsigned shift = exponent - sub_bits;
    return (static_cast<std::size_t>(shift + 1) << sub_bits) + static_cast<std::size_t>((v >> shift) & (sub_count - 1));
}

double latency_histogram::midpoint_of(std::size_t index) {
    constexpr std::size_t sub_count = std::size_t{1} << sub_bits;
    if (index < sub_count) {
        return static_cast<double>(index);
    }
    std::size_t block = index >> sub_bits; // >= 1
    std::size_t sub = index & (sub_count - 1);
    double width = std::ldexp(1.0, static_cast<int>(block - 1));
    double low = static_cast<double>(sub_count + sub) * width;
    return low + width / 2;
}

void latency_histogram::record(std::uint64_t ns) {
    ++buckets_[index_of(ns)];
    ++count_;
    max_ = std::max(max_, ns);
    sum_ += static_cast<long double>(ns);
}

void latency_histogram::merge(const latency_histogram& other) {
    for (std::size_t i = 0; i < bucket_count; ++i) {
        buckets_[i] += other.buckets_[i];
    }
    count_ += other.count_;
    max_ = std::max(max_, other.max_);
    sum_ += other.sum_;
}

double latency_histogram::quantile_ns(double q) const {
    if (count_ == 0) {
        return 0;
    }
    auto rank = static_cast<std::uint64_t>(std::ceil(std::clamp(q, 0.0, 1.0) * static_cast<double>(count_)));
    rank = std::max<std::uint64_t>(rank, 1);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < bucket_count; ++i) {
        seen += buckets_[i];
        if (seen >= rank) {
            return std::min(midpoint_of(i), static_cast<double>(max_));
        }
    }
    return static_cast<double>(max_);
}

double latency_histogram::mean_ns() const {
    return count_ == 0 ? 0 : static_cast<double>(sum_ / static_cast<long double>(count_));
}

boost::json::object latency_histogram::to_json_ms() const {
    auto ms = [](double ns) { return std::round(ns / 1e3) / 1e3; };
    return {{"count", count_},
            {"mean_ms", ms(mean_ns())},
            {"p50_ms", ms(quantile_ns(0.50))},
            {"p90_ms", ms(quantile_ns(0.90))},
            {"p99_ms", ms(quantile_ns(0.99))},
            {"p999_ms", ms(quantile_ns(0.999))},
            {"max_ms", ms(static_cast<double>(max_))}};
}

} // namespace kamea::loadgen
