// Engine.IO polling payloads and text packets.
#include "engineio/packet.hpp"

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view body(reinterpret_cast<const char*>(data), size);
    std::string scratch;
    std::size_t decoded = 0;
    for (auto part : kamea::engineio::split_payload(body)) {
        if (auto p = kamea::engineio::decode_text(part, scratch)) {
            ++decoded;
            std::string out;
            kamea::engineio::append_polling(*kamea::engineio::make_text(p->type, p->data), out);
        }
    }
    return decoded > size + 1 ? 1 : 0;
}
