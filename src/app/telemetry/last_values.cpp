#include "app/telemetry/last_values.hpp"

namespace kamea::app::telemetry {

last_values::~last_values() {
    for (const auto& [room, e] : entries_) {
        store_.untrack(room);
    }
}

std::optional<std::uint64_t> last_values::watch(const std::string& room, const core::device_key& key) {
    auto [it, fresh] = entries_.try_emplace(room);
    auto& e = it->second;
    ++e.watchers;
    if (!fresh) {
        return std::nullopt; // watched already, or lingering: its due row goes stale
    }
    e.key = key;
    e.generation = ++next_generation_;
    store_.track(room);
    return e.generation;
}

void last_values::unwatch(const std::string& room, clock::time_point now) {
    auto it = entries_.find(room);
    if (it == entries_.end() || it->second.watchers == 0) {
        return;
    }
    auto& e = it->second;
    if (--e.watchers == 0) {
        e.due = now + ttl_;
        due_.emplace(e.due, std::make_pair(room, e.generation));
    }
}

std::vector<last_values::expired> last_values::expire(clock::time_point now) {
    std::vector<expired> out;
    while (!due_.empty() && due_.begin()->first <= now) {
        auto [room, generation] = std::move(due_.begin()->second);
        due_.erase(due_.begin());
        auto it = entries_.find(room);
        if (it == entries_.end() || it->second.generation != generation || it->second.watchers > 0 ||
            it->second.due > now) {
            continue; // gone, a newer entry, watched again, or a later row stands for it
        }
        store_.untrack(room);
        out.push_back({std::move(it->second.key), it->second.holds_interest});
        entries_.erase(it);
    }
    return out;
}

std::optional<last_values::clock::time_point> last_values::next_expiry() const {
    if (due_.empty()) {
        return std::nullopt;
    }
    return due_.begin()->first;
}

void last_values::refuse(const std::string& room, std::uint64_t generation) {
    auto it = entries_.find(room);
    if (it != entries_.end() && it->second.generation == generation) {
        it->second.holds_interest = false;
    }
}

last_values::newest_now last_values::newest(const std::string& room) const {
    auto v = store_.newest(room);
    if (!v.packet) {
        return {};
    }
    return {v.packet, v.seq <= store_.cursor(shard_)};
}

} // namespace kamea::app::telemetry
