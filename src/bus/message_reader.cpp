#include "bus/message_reader.hpp"

#include <boost/json/parse.hpp>

namespace kamea::bus {

std::variant<core::telemetry, message_rejected> read_message(std::string_view body, std::size_t max_bytes) {
    if (body.size() > max_bytes) {
        return message_rejected{"the message is larger than " + std::to_string(max_bytes) + " bytes"};
    }
    boost::system::error_code ec;
    auto value = boost::json::parse(body, ec);
    if (ec) {
        return message_rejected{"the message is not JSON: " + ec.message()};
    }
    const auto* object = value.if_object();
    if (object == nullptr) {
        return message_rejected{"the message is not a JSON object"};
    }
    for (const char* field : {"tenantId", "deviceId"}) {
        if (auto wrong = core::check_id(object->if_contains(field), field)) {
            return message_rejected{std::move(*wrong)};
        }
    }
    core::telemetry t;
    t.key.tenant_id = std::string(object->at("tenantId").as_string());
    t.key.device_id = std::string(object->at("deviceId").as_string());
    t.json = std::string(body);
    return t;
}

} // namespace kamea::bus
