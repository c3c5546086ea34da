#pragma once
// Reads one bus message body into a telemetry: a pure function (no I/O, no clock), so the
// fuzzer drives it. The body is kept byte for byte; the pair comes from its ids.

#include "core/bus.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>

namespace kamea::bus {

struct message_rejected {
    std::string reason;
};

// A telemetry (ingested_ns left 0: the caller stamps it) or why the body is dropped.
std::variant<core::telemetry, message_rejected> read_message(std::string_view body, std::size_t max_bytes);

} // namespace kamea::bus
