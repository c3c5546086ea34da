// The bus's message reader (bus/message_reader.hpp): any bytes from the broker are either
// rejected or give a telemetry whose text is the input itself and whose ids are valid ones
// read from it; never a crash.
#include "bus/message_reader.hpp"

#include <boost/json/parse.hpp>

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view body(reinterpret_cast<const char*>(data), size);
    constexpr std::size_t max_bytes = 2048; // below -max_len: the size limit is exercised too
    auto read = kamea::bus::read_message(body, max_bytes);
    const auto* t = std::get_if<kamea::core::telemetry>(&read);
    if (t == nullptr) {
        return 0;
    }
    if (t->json != body || body.size() > max_bytes) {
        __builtin_trap();
    }
    auto value = boost::json::parse(body);
    const auto& object = value.as_object();
    if (kamea::core::check_id(object.if_contains("tenantId"), "tenantId") ||
        kamea::core::check_id(object.if_contains("deviceId"), "deviceId") ||
        object.at("tenantId").as_string() != t->key.tenant_id ||
        object.at("deviceId").as_string() != t->key.device_id) {
        __builtin_trap();
    }
    return 0;
}
