#pragma once
// Small text helpers shared by the layers (one copy, not one per parser).

#include <string_view>

namespace kamea::core {

// HTTP's optional whitespace (RFC 9110 section 5.6.3).
inline constexpr std::string_view http_ows = " \t";

// `s` without leading and trailing characters of `chars`.
constexpr std::string_view trim(std::string_view s, std::string_view chars = http_ows) {
    auto first = s.find_first_not_of(chars);
    if (first == std::string_view::npos) {
        return {};
    }
    return s.substr(first, s.find_last_not_of(chars) - first + 1);
}

} // namespace kamea::core
