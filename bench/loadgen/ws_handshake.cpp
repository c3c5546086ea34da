#include "loadgen/ws_handshake.hpp"

#include "core/base64.hpp"
#include "core/text.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cctype>

namespace kamea::loadgen {

namespace {

constexpr std::size_t max_response_head = 8192;

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

} // namespace

std::string websocket_accept(std::string_view key) {
    std::string input(key);
    input += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int size = 0;
    EVP_Digest(input.data(), input.size(), digest.data(), &size, EVP_sha1(), nullptr);
    return core::base64_encode(std::string_view(reinterpret_cast<const char*>(digest.data()), size));
}

upgrade_request make_upgrade_request(std::string_view host, std::string_view target, std::string_view extra_headers,
                                     mask_source& random) {
    std::array<char, 16> nonce{};
    for (std::size_t i = 0; i < nonce.size(); i += 8) {
        std::uint64_t r = random.next64();
        for (std::size_t j = 0; j < 8; ++j) {
            nonce[i + j] = static_cast<char>(r >> (8 * j));
        }
    }
    std::string key = core::base64_encode(std::string_view(nonce.data(), nonce.size()));
    upgrade_request req;
    req.text.reserve(256 + extra_headers.size());
    req.text.append("GET ").append(target).append(" HTTP/1.1\r\nHost: ").append(host);
    req.text.append("\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13"
                    "\r\nSec-WebSocket-Key: ");
    req.text.append(key).append("\r\n").append(extra_headers).append("\r\n");
    req.expected_accept = websocket_accept(key);
    return req;
}

upgrade_response parse_upgrade_response(std::string_view data, std::string_view expected_accept) {
    upgrade_response r;
    auto end = data.find("\r\n\r\n");
    if (end == std::string_view::npos) {
        r.status = data.size() > max_response_head ? upgrade_status::too_large : upgrade_status::incomplete;
        return r;
    }
    r.header_size = end + 4;
    std::string_view head = data.substr(0, end + 2);
    auto line_end = head.find("\r\n");
    std::string_view status_line = head.substr(0, line_end);
    // "HTTP/1.1 101 Switching Protocols"
    if (status_line.size() >= 12 && status_line.substr(0, 5) == "HTTP/") {
        auto sp = status_line.find(' ');
        if (sp != std::string_view::npos && sp + 4 <= status_line.size()) {
            std::string_view code = status_line.substr(sp + 1, 3);
            if (std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; })) {
                r.http_status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
            }
        }
    }
    if (r.http_status != 101) {
        r.status = upgrade_status::bad_status;
        return r;
    }
    r.status = upgrade_status::bad_accept;
    std::size_t pos = line_end + 2;
    while (pos < head.size()) {
        auto eol = head.find("\r\n", pos);
        std::string_view line = head.substr(pos, eol - pos);
        pos = eol + 2;
        auto colon = line.find(':');
        if (colon == std::string_view::npos) {
            continue;
        }
        if (iequals(core::trim(line.substr(0, colon)), "sec-websocket-accept") &&
            core::trim(line.substr(colon + 1)) == expected_accept) {
            r.status = upgrade_status::ok;
        }
    }
    return r;
}

} // namespace kamea::loadgen
