#include "core/device_key.hpp"

#include <algorithm>

namespace kamea::core {

std::optional<std::string> check_id(const boost::json::value* v, std::string_view field) {
    std::string name(field);
    if (v == nullptr) {
        return name + " is required";
    }
    if (!v->is_string()) {
        return name + " must be a string";
    }
    const auto& s = v->as_string();
    if (s.empty() || s.size() > 128) {
        return name + " must be 1 to 128 characters long";
    }
    bool ok = std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
               c == ':' || c == '-';
    });
    if (!ok) {
        return name + " may only contain letters, digits and . _ : -";
    }
    return std::nullopt;
}

} // namespace kamea::core
