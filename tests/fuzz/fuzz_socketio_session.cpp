// A whole Engine.IO session with its Socket.IO connection, fed a sequence of messages:
// the state rules (namespaces, acks, binary attachments, close) must hold for any input.
// Input: messages separated by '\n'; a message starting with '#' is binary.
#include "engineio/registry.hpp"
#include "socketio/server.hpp"

#include <boost/asio/io_context.hpp>

#include <cstdint>
#include <string>

namespace {

struct null_link : kamea::engineio::transport_link {
    void wake() override {}
};

// Time stands still: the input, not the clock, drives the session.
struct still_clock : kamea::engineio::time_source {
    kamea::engineio::clock::time_point now() const override { return {}; }
};

struct echo : kamea::socketio::namespace_handler {
    void on_connect(kamea::socketio::socket& s, const boost::json::object& auth,
                    kamea::socketio::connect_reply reply) override {
        if (auth.contains("deny")) {
            reply.refuse(R"({"message":"no"})");
            return;
        }
        s.join("room");
        reply.accept();
    }
    void on_event(kamea::socketio::socket& s, const kamea::socketio::event& e) override {
        if (e.ack_id) {
            s.ack(*e.ack_id, e.args, e.attachments);
        } else if (e.name == "bye") {
            s.disconnect(true);
        } else {
            s.emit("back", e.args, e.attachments,
                   [&s](std::string_view, const std::vector<std::string>&) { s.leave("room"); });
        }
    }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace kamea;
    boost::asio::io_context ctx;
    still_clock clock;
    engineio::session_timers timers{clock}; // before the sessions, which disarm into it
    socketio::server srv{socketio::server_options{}};
    srv.add_namespace("/", std::make_unique<echo>());
    srv.add_namespace("/devices", std::make_unique<echo>());
    engineio::registry sessions;
    engineio::session_options options;
    options.max_send_queue = 64 * 1024;
    auto s = std::make_shared<engineio::session>(ctx.get_executor(), timers, "sid", engineio::transport_kind::websocket,
                                                 std::make_shared<engineio::session_options>(options),
                                                 engineio::handshake_info{});
    s->set_handler(srv.make_connection(*s));
    sessions.add(s);
    null_link l;
    s->attach_websocket(&l);
    std::string_view input(reinterpret_cast<const char*>(data), size);
    std::vector<engineio::wire_ptr> out;
    while (!input.empty() && !s->closed()) {
        auto end = input.find('\n');
        auto msg = input.substr(0, end);
        input = end == std::string_view::npos ? std::string_view() : input.substr(end + 1);
        bool binary = !msg.empty() && msg.front() == '#';
        if (binary) {
            msg.remove_prefix(1);
        }
        s->on_packet({engineio::packet_type::message, binary, msg});
        s->take_queue(out);
        s->on_written(0);
        out.clear();
        ctx.poll();
    }
    s->on_transport_closed(engineio::close_reason::transport_close);
    ctx.poll();
    return srv.rooms().size() != 0 ? (__builtin_trap(), 0) : 0; // every room is left at the end
}
