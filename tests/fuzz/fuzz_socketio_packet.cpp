// Socket.IO packet decoder and the raw-argument scanner it feeds.
#include "socketio/packet.hpp"

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto r = kamea::socketio::decode(text);
    if (!r.value) {
        return 0;
    }
    auto& p = *r.value;
    if (p.value.is_array()) {
        auto args = kamea::socketio::args_after_first(p.json);
        if (args.size() > p.json.size()) {
            __builtin_trap();
        }
        (void)kamea::socketio::placeholders_valid(p.value, p.attachments);
    }
    auto head = kamea::socketio::encode_head(p.type, p.nsp, p.id, p.attachments);
    return head.empty() ? 1 : 0;
}
