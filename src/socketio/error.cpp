#include "socketio/error.hpp"

#include <string>

namespace kamea::socketio {
namespace {

class category final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "socketio"; }
    std::string message(int ev) const override {
        switch (static_cast<error>(ev)) {
        case error::bad_type:
            return "unknown packet type";
        case error::bad_attachments:
            return "illegal attachments";
        case error::bad_namespace:
            return "invalid namespace";
        case error::bad_id:
            return "invalid ack id";
        case error::bad_json:
            return "payload is not JSON";
        case error::bad_payload:
            return "invalid payload for the packet type";
        case error::binary_without_header:
            return "binary frame without a packet announcing it";
        case error::text_during_attachments:
            return "text packet while attachments are expected";
        case error::bad_placeholders:
            return "placeholder naming no attachment";
        case error::namespace_not_joined:
            return "packet for a namespace not joined";
        case error::namespace_already_joined:
            return "CONNECT for a namespace already joined";
        case error::unexpected_packet:
            return "packet type a client may not send";
        }
        return "unknown socketio error";
    }
};

} // namespace

const boost::system::error_category& error_category() {
    static const category instance;
    return instance;
}

} // namespace kamea::socketio
