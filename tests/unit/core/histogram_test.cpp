#include "core/histogram.hpp"

#include <gtest/gtest.h>

using namespace kamea::core;
using std::chrono::microseconds;
using std::chrono::nanoseconds;

// Bucket i counts values up to bounds[i] inclusive (Prometheus `le`); the last one is +Inf.
TEST(histogram_buckets, put_each_value_in_the_first_bucket_whose_bound_it_does_not_exceed) {
    histogram h;
    h.observe(microseconds(500)); // exactly 0.0005 s
    h.observe(microseconds(501)); // just above it
    h.observe(std::chrono::seconds(10));
    h.observe(std::chrono::seconds(11)); // beyond the last bound
    auto s = h.read();
    EXPECT_EQ(s.buckets[0], 1U);
    EXPECT_EQ(s.buckets[1], 1U);
    EXPECT_EQ(s.buckets[histogram::bounds.size() - 1], 1U);
    EXPECT_EQ(s.buckets[histogram::bounds.size()], 1U);
    EXPECT_DOUBLE_EQ(s.sum_seconds, 0.0005 + 0.000501 + 10 + 11);
}

TEST(histogram_buckets, count_a_negative_duration_as_zero) {
    histogram h;
    h.observe(nanoseconds(-5)); // a clock step between stamp and write
    auto s = h.read();
    EXPECT_EQ(s.buckets[0], 1U);
    EXPECT_DOUBLE_EQ(s.sum_seconds, 0);
}

TEST(histogram_buckets, single_writer_observations_match_the_atomic_ones) {
    histogram shared;
    histogram owned;
    for (auto d : {nanoseconds(1), nanoseconds(999'999), nanoseconds(1'000'001), nanoseconds(70'000'000),
                   nanoseconds(-1), nanoseconds(30'000'000'000)}) {
        shared.observe(d);
        owned.observe_single_writer(d);
    }
    auto a = shared.read();
    auto b = owned.read();
    EXPECT_EQ(a.buckets, b.buckets);
    EXPECT_DOUBLE_EQ(a.sum_seconds, b.sum_seconds);
}
