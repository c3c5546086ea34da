#pragma once
// The offsets of connection state recovery (docs/recovery.md): the string a recoverable
// telemetry carries as its last argument, which the stock client sends back in its CONNECT
// auth. Ours is "<process tag>.<fan-out sequence number in base 36>": the tag tells this
// process's offsets from another instance's (or an earlier run's), the number orders every
// telemetry the process delivered. Sans-I/O.

#include "engineio/packet.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kamea::app::recovery {

class offset_codec {
public:
    explicit offset_codec(std::string tag) : tag_(std::move(tag)) {}
    std::string encode(std::uint64_t seq) const;
    // nullopt: not an offset this process wrote.
    std::optional<std::uint64_t> decode(std::string_view offset) const;

private:
    std::string tag_;
};

// The same telemetry packet without its offset: a last value sent on subscribe is older than
// what the client may already have had, and must not move its position backwards.
engineio::wire_ptr without_offset(const engineio::wire_ptr& packet);

} // namespace kamea::app::recovery
