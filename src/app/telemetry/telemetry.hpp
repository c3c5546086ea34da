#pragma once
// A telemetry as it travels inside the service: the device it belongs to and its JSON text
// exactly as it was published (contract section 7).

#include <string>
#include <string_view>
#include <optional>

#include <boost/json/value.hpp>

namespace kamea::app::telemetry {

struct telemetry {
    std::string device_id;
    std::string json;
};

inline std::string room_of(std::string_view device_id) {
    return "telemetries:" + std::string(device_id);
}

// Contract section 4: 1-128 characters of [A-Za-z0-9._:-]. Returns what is wrong, if anything.
std::optional<std::string> check_id(const boost::json::value* v, std::string_view field);

} // namespace kamea::app::telemetry
