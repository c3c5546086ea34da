#include "app/telemetry/newest_store.hpp"

namespace kamea::app::telemetry {

void newest_store::track(const std::string& room) {
    std::lock_guard lock(mutex_);
    auto [it, fresh] = entries_.try_emplace(room);
    ++it->second.trackers;
    if (fresh) {
        tracked_.fetch_add(1, std::memory_order_relaxed);
    }
}

void newest_store::untrack(const std::string& room) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(room);
    if (it == entries_.end() || --it->second.trackers > 0) {
        return;
    }
    if (it->second.v.packet) {
        bytes_ -= it->second.v.packet->bytes.size();
    }
    entries_.erase(it);
    tracked_.fetch_sub(1, std::memory_order_relaxed);
}

void newest_store::record(const std::vector<item>& items) {
    std::lock_guard lock(mutex_);
    for (const auto& i : items) {
        auto it = entries_.find(*i.room);
        if (it == entries_.end()) {
            continue;
        }
        auto& v = it->second.v;
        std::size_t old_size = v.packet ? v.packet->bytes.size() : 0;
        std::size_t new_size = (*i.packet)->bytes.size();
        if (bytes_ - old_size + new_size > budget_) {
            bytes_ -= old_size;
            v = {}; // no value rather than a stale one
            not_kept_.fetch_add(1, std::memory_order_relaxed);
            continue;
        }
        bytes_ = bytes_ - old_size + new_size;
        v = {*i.packet, i.seq};
    }
}

newest_store::value newest_store::newest(const std::string& room) const {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(room);
    return it == entries_.end() ? value{} : it->second.v;
}

std::size_t newest_store::bytes() const {
    std::lock_guard lock(mutex_);
    return bytes_;
}

} // namespace kamea::app::telemetry
