// RFC 6455 frame parser: arbitrary bytes, split at arbitrary points.
#include "transport/websocket_frame.hpp"

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) {
        return 0;
    }
    std::size_t chunk = 1 + data[0] % 17; // the first byte picks the read size
    std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
    kamea::transport::frame_parser parser(4096);
    std::size_t total = 0;
    for (std::size_t i = 0; i < bytes.size(); i += chunk) {
        auto n = std::min(chunk, bytes.size() - i);
        auto code =
            parser.feed(bytes.data() + i, n, [&](const kamea::transport::ws_message& m) { total += m.payload.size(); });
        if (code != 0) {
            break;
        }
    }
    return total > (1U << 30) ? 1 : 0;
}
