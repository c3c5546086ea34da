#include "bus/amqp_bus.hpp"

#include <openssl/evp.h>

#include <array>

namespace kamea::bus {

namespace {

constexpr std::size_t max_routing_key = 255; // AMQP shortstr

std::string sha256_hex(std::string_view text) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int length = 0;
    EVP_Digest(text.data(), text.size(), digest.data(), &length, EVP_sha256(), nullptr);
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(std::size_t{length} * 2);
    for (unsigned int i = 0; i < length; ++i) {
        out.push_back(hex[digest[i] >> 4]);
        out.push_back(hex[digest[i] & 0x0f]);
    }
    return out;
}

} // namespace

std::string routing_key(const core::device_key& key) {
    std::string plain;
    plain.reserve(key.tenant_id.size() + 1 + key.device_id.size());
    plain.append(key.tenant_id).append(1, '.').append(key.device_id);
    if (plain.size() <= max_routing_key) {
        return plain;
    }
    // '~' cannot occur in an id, so the long form never equals a plain key.
    return "~" + sha256_hex(plain);
}

} // namespace kamea::bus
