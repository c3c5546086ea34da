// The ingestion path's array splitter (core/json_text.hpp): for any text Boost.JSON accepts as
// an array, each slice must be exactly one element, equal to the one the library parsed.
#include "core/json_text.hpp"

#include <boost/json/parse.hpp>

#include <cmath>
#include <cstdint>
#include <string_view>

namespace {

// Boost.JSON 1.81 rounds a long decimal differently inside an array than alone (and reads
// `0e340` as NaN), so doubles compare within a few ulps. The slices themselves are what we
// forward, byte for byte; the library's number reading never reaches a client.
bool close_enough(double a, double b) {
    if (std::isnan(a) || std::isnan(b)) {
        return std::isnan(a) && std::isnan(b);
    }
    if (a == b) {
        return true;
    }
    return std::fabs(a - b) <= 1e-14 * std::fmax(std::fabs(a), std::fabs(b));
}

bool same(const boost::json::value& a, const boost::json::value& b) {
    if (a.is_double() && b.is_double()) {
        return close_enough(a.get_double(), b.get_double());
    }
    if (a.is_array() && b.is_array()) {
        const auto& x = a.get_array();
        const auto& y = b.get_array();
        if (x.size() != y.size()) {
            return false;
        }
        for (std::size_t i = 0; i < x.size(); ++i) {
            if (!same(x[i], y[i])) {
                return false;
            }
        }
        return true;
    }
    if (a.is_object() && b.is_object()) {
        const auto& x = a.get_object();
        const auto& y = b.get_object();
        if (x.size() != y.size()) {
            return false;
        }
        for (const auto& [key, value] : x) {
            const auto* other = y.if_contains(key);
            if (other == nullptr || !same(value, *other)) {
                return false;
            }
        }
        return true;
    }
    return a == b;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    boost::system::error_code ec;
    auto value = boost::json::parse(text, ec);
    if (ec || !value.is_array()) {
        return 0;
    }
    const auto& array = value.as_array();
    auto parts = kamea::core::split_array_elements(text);
    if (parts.size() != array.size()) {
        __builtin_trap();
    }
    for (std::size_t i = 0; i < parts.size(); ++i) {
        auto element = boost::json::parse(parts[i], ec);
        if (ec || !same(element, array[i])) {
            __builtin_trap();
        }
    }
    return 0;
}
