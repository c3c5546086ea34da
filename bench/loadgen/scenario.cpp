#include "loadgen/scenario.hpp"

#include <stdexcept>

namespace kamea::loadgen {

std::unique_ptr<scenario> make_scenario(const options& opts) {
    if (opts.scenario == "idle") {
        return std::make_unique<idle_scenario>();
    }
    throw std::invalid_argument("unknown scenario " + opts.scenario);
}

} // namespace kamea::loadgen
