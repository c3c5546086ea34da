#include "app/recovery/replay_buffer.hpp"

#include <algorithm>

namespace kamea::app::recovery {
namespace {

// What one kept telemetry costs besides its packet's bytes: the packet's control block and
// allocations, and its places in the room and in the global order, with the allocator's own
// overhead (bench/recovery-memory.sh measured 365 bytes of RSS for a 150-byte telemetry).
constexpr std::size_t overhead = 128;

std::size_t cost(const engineio::wire_ptr& p) {
    return p->bytes.size() + sizeof(engineio::wire_packet) + overhead;
}

} // namespace

void replay_buffer::track(const std::string& room) {
    std::lock_guard lock(mutex_);
    auto [it, created] = rooms_.try_emplace(room);
    if (created) {
        it->second.lost_upto = last_seq_; // what came before was not kept
    }
    if (it->second.holders++ == 0) {
        tracked_.fetch_add(1, std::memory_order_relaxed);
    }
}

void replay_buffer::untrack(const std::string& room) {
    std::lock_guard lock(mutex_);
    auto it = rooms_.find(room);
    if (it == rooms_.end() || it->second.holders == 0) {
        return;
    }
    if (--it->second.holders == 0) {
        tracked_.fetch_sub(1, std::memory_order_relaxed);
        if (it->second.telemetries.empty()) {
            rooms_.erase(it); // otherwise it goes with its last telemetry
        }
    }
}

void replay_buffer::record(const std::vector<item>& items, clock::time_point now) {
    std::lock_guard lock(mutex_);
    if (items.empty()) {
        return;
    }
    for (const auto& t : items) {
        if (rooms_.empty()) {
            break; // nothing held: only the sequence moves
        }
        last_seq_ = t.seq;
        auto it = rooms_.find(*t.room);
        if (it == rooms_.end() || it->second.holders == 0) {
            continue;
        }
        auto size = cost(*t.packet);
        it->second.telemetries.push_back({t.seq, *t.packet});
        order_.push_back({&it->second, it->first, now, size});
        bytes_ += size;
    }
    last_seq_ = items.back().seq;
    while (!order_.empty() && (bytes_ > budget_ || now - order_.front().at > max_age_)) {
        evict_oldest();
    }
}

void replay_buffer::evict_oldest() {
    auto oldest = order_.front();
    order_.pop_front();
    bytes_ -= oldest.bytes;
    auto& room = *oldest.room;
    room.lost_upto = room.telemetries.front().seq;
    room.telemetries.pop_front();
    evicted_.fetch_add(1, std::memory_order_relaxed);
    if (room.holders == 0 && room.telemetries.empty()) {
        rooms_.erase(std::string(oldest.name));
    }
}

std::optional<std::vector<engineio::wire_ptr>> replay_buffer::missed(const std::vector<wanted>& rooms,
                                                                     std::uint64_t upto) const {
    std::vector<const kept*> found;
    {
        std::lock_guard lock(mutex_);
        for (const auto& w : rooms) {
            auto it = rooms_.find(w.room);
            if (it == rooms_.end()) {
                return std::nullopt; // not held: nothing says what it had
            }
            const auto& room = it->second;
            if (room.lost_upto > w.after) {
                return std::nullopt;
            }
            auto first = std::upper_bound(room.telemetries.begin(), room.telemetries.end(), w.after,
                                          [](std::uint64_t seq, const kept& k) { return seq < k.seq; });
            for (auto k = first; k != room.telemetries.end() && k->seq <= upto; ++k) {
                found.push_back(&*k);
            }
        }
        std::sort(found.begin(), found.end(), [](const kept* a, const kept* b) { return a->seq < b->seq; });
        std::vector<engineio::wire_ptr> out;
        out.reserve(found.size());
        for (const auto* k : found) {
            out.push_back(k->packet);
        }
        return out;
    }
}

std::size_t replay_buffer::bytes() const {
    std::lock_guard lock(mutex_);
    return bytes_;
}

std::size_t replay_buffer::telemetries() const {
    std::lock_guard lock(mutex_);
    return order_.size();
}

} // namespace kamea::app::recovery
