#include "transport/websocket_handshake.hpp"

#include "core/base64.hpp"

#include <openssl/sha.h>

namespace kamea::transport {

std::string websocket_accept_key(std::string_view client_key) {
    static constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    std::string input(client_key);
    input += guid;
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
    return core::base64_encode({reinterpret_cast<const char*>(digest), sizeof digest});
}

std::optional<std::string> websocket_request_error(std::string_view version, std::string_view key) {
    if (version != "13" && version != "8") {
        return "Missing or invalid Sec-WebSocket-Version header";
    }
    auto decoded = core::base64_decode(key);
    if (!decoded || decoded->size() != 16) {
        return "Missing or invalid Sec-WebSocket-Key header";
    }
    return std::nullopt;
}

} // namespace kamea::transport
