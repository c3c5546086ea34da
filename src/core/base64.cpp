#include "core/base64.hpp"

#include <array>
#include <cstdint>

namespace kamea::core {
namespace {

constexpr std::string_view std_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view url_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::array<std::int16_t, 256> make_table(std::string_view alphabet) {
    std::array<std::int16_t, 256> t{};
    for (auto& v : t) {
        v = -1;
    }
    for (std::size_t i = 0; i < alphabet.size(); ++i) {
        t[static_cast<unsigned char>(alphabet[i])] = static_cast<std::int16_t>(i);
    }
    return t;
}
constexpr auto std_table = make_table(std_alphabet);
constexpr auto url_table = make_table(url_alphabet);

void encode(std::string_view in, std::string& out, std::string_view alphabet, bool pad) {
    auto byte = [&](std::size_t i) { return static_cast<unsigned char>(in[i]); };
    std::size_t i = 0;
    for (; i + 3 <= in.size(); i += 3) {
        unsigned v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        out += alphabet[v & 63];
    }
    std::size_t rest = in.size() - i;
    if (rest == 1) {
        unsigned v = byte(i) << 16;
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        if (pad) {
            out += "==";
        }
    } else if (rest == 2) {
        unsigned v = (byte(i) << 16) | (byte(i + 1) << 8);
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        if (pad) {
            out += '=';
        }
    }
}

} // namespace

void base64_encode_append(std::string_view bytes, std::string& out) {
    out.reserve(out.size() + (bytes.size() + 2) / 3 * 4);
    encode(bytes, out, std_alphabet, true);
}

std::string base64_encode(std::string_view bytes) {
    std::string out;
    base64_encode_append(bytes, out);
    return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
    if (text.size() % 4 != 0) {
        return std::nullopt;
    }
    std::size_t pad = 0;
    if (!text.empty() && text.back() == '=') {
        pad = text.size() >= 2 && text[text.size() - 2] == '=' ? 2 : 1;
    }
    std::string out;
    out.reserve(text.size() / 4 * 3);
    for (std::size_t i = 0; i < text.size(); i += 4) {
        bool last = i + 4 == text.size();
        int v[4];
        for (int k = 0; k < 4; ++k) {
            char c = text[i + static_cast<std::size_t>(k)];
            if (last && c == '=' && k >= 4 - static_cast<int>(pad)) {
                v[k] = 0;
                continue;
            }
            v[k] = std_table[static_cast<unsigned char>(c)];
            if (v[k] < 0) {
                return std::nullopt;
            }
        }
        unsigned n = (static_cast<unsigned>(v[0]) << 18) | (static_cast<unsigned>(v[1]) << 12) |
                     (static_cast<unsigned>(v[2]) << 6) | static_cast<unsigned>(v[3]);
        out += static_cast<char>((n >> 16) & 0xff);
        if (!last || pad < 2) {
            out += static_cast<char>((n >> 8) & 0xff);
        }
        if (!last || pad < 1) {
            out += static_cast<char>(n & 0xff);
        }
    }
    return out;
}

std::string base64url_encode(std::string_view bytes) {
    std::string out;
    encode(bytes, out, url_alphabet, false);
    return out;
}

int base64url_value(char c) {
    return url_table[static_cast<unsigned char>(c)];
}

} // namespace kamea::core
