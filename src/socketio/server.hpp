#pragma once
// The Socket.IO server of one shard: its namespaces and rooms, and the connection factory
// the Engine.IO layer calls for each new session on /socket.io/.

#include "engineio/session.hpp"
#include "socketio/counters.hpp"
#include "socketio/namespace_handler.hpp"
#include "socketio/rooms.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <string>

namespace kamea::socketio {

struct server_options {
    std::chrono::milliseconds connect_timeout{45000};
    std::shared_ptr<counters> stats = std::make_shared<counters>();
};

class server {
public:
    explicit server(server_options options) : options_(std::move(options)), rooms_(*options_.stats) {}

    void add_namespace(const std::string& name, std::unique_ptr<namespace_handler> handler) {
        namespaces_[name] = std::move(handler);
    }
    namespace_handler* find_namespace(const std::string& name) const {
        auto it = namespaces_.find(name);
        return it == namespaces_.end() ? nullptr : it->second.get();
    }

    socketio::rooms& rooms() { return rooms_; }
    const server_options& options() const { return options_; }

    std::unique_ptr<engineio::session_handler> make_connection(engineio::session& s);

    std::size_t socket_count() const { return sockets_; }
    void on_socket_count(int delta);

private:
    server_options options_;
    std::map<std::string, std::unique_ptr<namespace_handler>, std::less<>> namespaces_;
    socketio::rooms rooms_;
    std::size_t sockets_ = 0;
};

} // namespace kamea::socketio
