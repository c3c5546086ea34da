#include "core/bus.hpp"

namespace kamea::core {

const char* to_string(bus_state s) {
    switch (s) {
    case bus_state::connected:
        return "connected";
    case bus_state::connecting:
        return "connecting";
    case bus_state::disconnected:
        return "disconnected";
    }
    return "unknown";
}

} // namespace kamea::core
