#pragma once
// Rooms of one shard (style.md section 3): each room lists its sockets and each socket lists
// its rooms with its position there, so joining, leaving and leaving everything are O(1)
// per room, and a broadcast is one loop over a vector.

#include "engineio/packet.hpp"

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace kamea::socketio {

class socket;

struct room {
    std::string name;
    std::vector<socket*> members;
};

struct counters;

class rooms {
public:
    explicit rooms(counters& stats) : stats_(stats) {}

    void join(socket& s, const std::string& name);
    void leave(socket& s, const std::string& name);
    void leave_all(socket& s);

    // Queues the same encoded packets on every member (no per-recipient copy).
    // Returns the number of sockets reached.
    std::size_t emit(const std::string& name, const std::vector<engineio::wire_ptr>& packets);
    std::size_t emit(const std::string& name, const engineio::wire_ptr& packet);

    const room* find(const std::string& name) const;
    std::size_t size() const { return rooms_.size(); }

private:
    void remove_slot(socket& s, std::size_t slot);
    counters& stats_;
    std::unordered_map<std::string, room> rooms_; // node-based: room addresses are stable
};

} // namespace kamea::socketio
