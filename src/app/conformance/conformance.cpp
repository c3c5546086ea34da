#include "app/conformance/conformance.hpp"

#include <boost/json/serialize.hpp>

namespace kamea::app {

void conformance_namespace::on_connect(socketio::socket& s, const boost::json::object& auth,
                                       socketio::connect_reply reply) {
    s.data = std::make_shared<std::string>(boost::json::serialize(auth));
    reply.accept();
}

void conformance_namespace::on_connected(socketio::socket& s) {
    s.emit("auth", *std::static_pointer_cast<std::string>(s.data));
}

void conformance_namespace::on_event(socketio::socket& s, const socketio::event& e) {
    if (e.name == "message") {
        s.emit("message-back", e.args, e.attachments);
    } else if (e.name == "message-with-ack" && e.ack_id) {
        s.ack(*e.ack_id, e.args, e.attachments);
    } else if (e.name == "request-ack") {
        auto* target = &s;
        s.emit("ack-me", e.args, e.attachments,
               [target](std::string_view answer, const std::vector<std::string>& attachments) {
                   // `answer` is the ACK's array: pass its elements (and binaries) on.
                   auto inner = answer.size() >= 2 ? answer.substr(1, answer.size() - 2) : answer;
                   target->emit("ack-result", inner, attachments);
               });
    }
}

namespace {

class engineio_echo final : public engineio::session_handler {
public:
    explicit engineio_echo(engineio::session& s) : session_(s) {}
    void on_message(std::string_view data, bool binary) override {
        session_.send(binary ? engineio::make_binary(data) : engineio::make_text(engineio::packet_type::message, data));
    }
    void on_close(engineio::close_reason) override {}

private:
    engineio::session& session_;
};

} // namespace

std::unique_ptr<engineio::session_handler> make_engineio_echo(engineio::session& s) {
    return std::make_unique<engineio_echo>(s);
}

} // namespace kamea::app
