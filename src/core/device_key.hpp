#pragma once
// A device of a tenant: the unit of authorization, of telemetry rooms and of bus interest.
// Device ids are unique only within a tenant (contract section 4), so nothing is keyed by the
// device id alone.

#include <boost/json/value.hpp>

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace kamea::core {

struct device_key {
    std::string tenant_id;
    std::string device_id;

    bool operator==(const device_key&) const = default;
};

struct device_key_hash {
    std::size_t operator()(const device_key& k) const noexcept {
        auto h = std::hash<std::string_view>{}(k.tenant_id);
        return h ^ (std::hash<std::string_view>{}(k.device_id) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
    }
};

// Contract section 4: 1-128 characters of [A-Za-z0-9._:-]. Returns what is wrong, if anything
// (`field` names the id in the message).
std::optional<std::string> check_id(const boost::json::value* v, std::string_view field);

} // namespace kamea::core
