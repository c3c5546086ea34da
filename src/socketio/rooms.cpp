#include "socketio/rooms.hpp"

#include "socketio/counters.hpp"
#include "socketio/socket.hpp"

namespace kamea::socketio {

void rooms::join(socket& s, const std::string& name) {
    if (s.in_room(name)) {
        return;
    }
    auto [it, inserted] = rooms_.try_emplace(name);
    room& r = it->second;
    if (inserted) {
        r.name = name;
        stats_.rooms.fetch_add(1, std::memory_order_relaxed);
    }
    s.rooms_.push_back({&r, r.members.size()});
    r.members.push_back(&s);
}

void rooms::remove_slot(socket& s, std::size_t slot) {
    auto [r, index] = s.rooms_[slot];
    socket* last = r->members.back();
    if (last != &s) {
        r->members[index] = last;
        for (auto& other : last->rooms_) {
            if (other.r == r) {
                other.index = index;
                break;
            }
        }
    }
    r->members.pop_back();
    s.rooms_[slot] = s.rooms_.back();
    s.rooms_.pop_back();
    if (r->members.empty()) {
        stats_.rooms.fetch_sub(1, std::memory_order_relaxed);
        rooms_.erase(r->name);
    }
}

void rooms::leave(socket& s, const std::string& name) {
    for (std::size_t i = 0; i < s.rooms_.size(); ++i) {
        if (s.rooms_[i].r->name == name) {
            remove_slot(s, i);
            return;
        }
    }
}

void rooms::leave_all(socket& s) {
    while (!s.rooms_.empty()) {
        remove_slot(s, s.rooms_.size() - 1);
    }
}

std::size_t rooms::emit(const std::string& name, const std::vector<engineio::wire_ptr>& packets) {
    auto it = rooms_.find(name);
    if (it == rooms_.end()) {
        return 0;
    }
    // Safe to iterate in place: a send never closes synchronously (session::send posts the
    // close of a slow client), so no socket leaves a room inside this loop.
    const auto& members = it->second.members;
    for (socket* s : members) {
        for (const auto& p : packets) {
            s->send(p);
        }
    }
    return members.size();
}

std::size_t rooms::emit(const std::string& name, const engineio::wire_ptr& packet) {
    auto it = rooms_.find(name);
    if (it == rooms_.end()) {
        return 0;
    }
    for (socket* s : it->second.members) {
        s->send(packet); // see above: never closes synchronously
    }
    return it->second.members.size();
}

const room* rooms::find(const std::string& name) const {
    auto it = rooms_.find(name);
    return it == rooms_.end() ? nullptr : &it->second;
}

} // namespace kamea::socketio
