#include "core/random_id.hpp"

#include "core/base64.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <random>
#include <stdexcept>

namespace kamea::core {
namespace {

// A per-thread CSPRNG-seeded buffer so each id does not cost a syscall.
struct random_pool {
    std::array<unsigned char, 4096> bytes{};
    std::size_t used = bytes.size();

    void take(unsigned char* out, std::size_t n) {
        if (used + n > bytes.size()) {
            if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
                throw std::runtime_error("RAND_bytes failed");
            }
            used = 0;
        }
        std::copy_n(bytes.begin() + static_cast<std::ptrdiff_t>(used), n, out);
        used += n;
    }
};

thread_local random_pool pool;

} // namespace

std::string random_id(int tag) {
    std::array<unsigned char, 15> raw{};
    pool.take(raw.data(), raw.size());
    if (tag >= 0 && tag < 64) {
        raw[0] = static_cast<unsigned char>((raw[0] & 0x03) | (tag << 2)); // top 6 bits = tag
    }
    return base64url_encode({reinterpret_cast<const char*>(raw.data()), raw.size()});
}

int random_id_tag(std::string_view id) {
    if (id.size() != 20) {
        return -1;
    }
    int v = base64url_value(id[0]);
    return v;
}

} // namespace kamea::core
