#pragma once
// A shard: one event loop on one thread, with the sessions it owns (style.md section 2).
// Connections are spread over shards at accept; a request for a session of another shard
// moves its socket there (http_server.cpp), so sessions never need locks.

#include "core/histogram.hpp"
#include "engineio/registry.hpp"
#include "engineio/session.hpp"
#include "transport/loop_load.hpp"
#include "transport/send_ring.hpp"
#include "transport/shard_deadlines.hpp"

#include <boost/asio/io_context.hpp>

#include <array>
#include <atomic>
#include <functional>
#include <memory>

namespace kamea::transport {

class websocket_connection;

// Which Engine.IO endpoint a session was opened on.
enum class endpoint : std::uint8_t { socketio, engineio_echo };

// The event loop of a shard. Teardown needs one step io_context does not offer publicly:
// destroying every pending handler and coroutine frame first (they hold sessions, which
// reference the Socket.IO servers), while the context's services still exist (the
// application's timers and sockets must be destroyed before those services).
class shard_context : public boost::asio::io_context {
public:
    using io_context::io_context;
    void destroy_pending_handlers() { shutdown(); }
};

struct shard {
    explicit shard(int i) : index(i) {}

    // After the loop stopped: pending handlers, then sessions, in that order.
    void release_handlers_and_sessions() {
        ctx.destroy_pending_handlers();
        sends.reset(); // the connections whose sends were still in flight go now
        flush_list.clear();
        flushing.clear();
        sessions.clear();
    }

    int index;
    shard_context ctx{1};
    // Before the sessions: they disarm their deadlines when destroyed.
    shard_deadlines deadlines{ctx};
    engineio::registry sessions;
    // Builds the layer above Engine.IO for a new session (set by main).
    std::function<std::unique_ptr<engineio::session_handler>(engineio::session&, endpoint)> make_handler;

    // WebSockets with something to write, flushed together once per loop turn.
    std::vector<std::shared_ptr<websocket_connection>> flush_list;
    std::vector<std::shared_ptr<websocket_connection>> flushing; // the turn being flushed
    bool flush_posted = false;
    // Hands the WebSocket sends of a loop turn to the kernel at once (null: no io_uring).
    std::unique_ptr<send_ring> sends;
    // How busy the flush turns keep this loop (connection placement reads it).
    loop_load load;

    // Read buffer shared by every WebSocket of this shard: a read is processed completely
    // before the next one starts, so idle connections own no read buffer.
    std::array<char, std::size_t{64} * 1024> read_scratch{};

    // Connections (HTTP or WebSocket) whose coroutine runs on this shard and that are not
    // idle between requests; read by the shutdown watcher from another thread.
    std::atomic<std::size_t> busy_connections{0};
    bool stopping = false;
    // Time from a packet's stamp (ingestion) to the end of its WebSocket write.
    core::histogram ingest_to_write;
};

} // namespace kamea::transport
