#pragma once
// Telemetry inside the application: the type is core's (the bus carries it too), the room is
// the application's. A room is keyed by the (tenant, device) pair, since device ids are unique
// only within a tenant; docs and logs still call it telemetries:<deviceId> (contract section 4).

#include "core/bus.hpp"
#include "core/device_key.hpp"

#include <string>

namespace kamea::app::telemetry {

using core::check_id;
using core::device_key;
using core::telemetry;

// '/' cannot occur in an id, so the name is unambiguous.
inline std::string room_of(const device_key& key) {
    std::string name;
    name.reserve(13 + key.tenant_id.size() + key.device_id.size());
    name += "telemetries:";
    name += key.tenant_id;
    name += '/';
    name += key.device_id;
    return name;
}

} // namespace kamea::app::telemetry
