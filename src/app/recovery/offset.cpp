#include "app/recovery/offset.hpp"

#include <charconv>

namespace kamea::app::recovery {

std::string offset_codec::encode(std::uint64_t seq) const {
    char digits[16];
    auto end = std::to_chars(digits, digits + sizeof digits, seq, 36).ptr;
    std::string out;
    out.reserve(tag_.size() + 1 + static_cast<std::size_t>(end - digits));
    out += tag_;
    out += '.';
    out.append(digits, end);
    return out;
}

std::optional<std::uint64_t> offset_codec::decode(std::string_view offset) const {
    if (offset.size() <= tag_.size() + 1 || !offset.starts_with(tag_) || offset[tag_.size()] != '.') {
        return std::nullopt;
    }
    auto digits = offset.substr(tag_.size() + 1);
    if (digits.size() > 1 && digits.front() == '0') {
        return std::nullopt; // we never write one: not ours
    }
    std::uint64_t seq = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), seq, 36);
    if (ec != std::errc{} || end != digits.data() + digits.size()) {
        return std::nullopt;
    }
    return seq;
}

engineio::wire_ptr without_offset(const engineio::wire_ptr& packet) {
    auto payload = packet->payload(); // 42/devices,["telemetries",{...},"<offset>"]
    auto cut = payload.rfind(",\"");
    if (cut == std::string_view::npos || payload.empty() || payload.front() != '4') {
        return packet;
    }
    return engineio::make_text(engineio::packet_type::message, payload.substr(1, cut - 1), "]", packet->stamp_ns,
                               packet->conflate_key);
}

} // namespace kamea::app::recovery
