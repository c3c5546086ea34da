#include "app/authorization/token_expiry.hpp"

#include <boost/json/parse.hpp>
#include <openssl/evp.h>

#include <cmath>
#include <string>

namespace kamea::app::authorization {

namespace {

constexpr std::size_t max_token = std::size_t{16} * 1024;
constexpr double max_exp = 253402300799.0; // 9999-12-31T23:59:59Z

bool base64url_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

// base64url without padding (RFC 7515 section 2) to bytes, through OpenSSL's decoder.
std::optional<std::string> decode_base64url(std::string_view in) {
    if (in.empty() || in.size() % 4 == 1) {
        return std::nullopt;
    }
    std::string b64;
    b64.reserve(in.size() + 3);
    for (char c : in) {
        if (!base64url_char(c)) {
            return std::nullopt;
        }
        b64.push_back(c == '-' ? '+' : c == '_' ? '/' : c);
    }
    const std::size_t pad = (4 - b64.size() % 4) % 4;
    b64.append(pad, '=');
    std::string out(b64.size() / 4 * 3, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(b64.data()), static_cast<int>(b64.size()));
    if (n < 0 || static_cast<std::size_t>(n) < pad) {
        return std::nullopt;
    }
    out.resize(static_cast<std::size_t>(n) - pad); // EVP_DecodeBlock counts the padding as zeros
    return out;
}

} // namespace

std::optional<std::chrono::system_clock::time_point> token_expiry(std::string_view token) {
    if (token.size() > max_token) {
        return std::nullopt;
    }
    auto first = token.find('.');
    if (first == std::string_view::npos) {
        return std::nullopt;
    }
    auto second = token.find('.', first + 1);
    if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
        return std::nullopt;
    }
    auto payload = decode_base64url(token.substr(first + 1, second - first - 1));
    if (!payload) {
        return std::nullopt;
    }
    boost::system::error_code ec;
    auto claims = boost::json::parse(*payload, ec);
    if (ec || !claims.is_object()) {
        return std::nullopt;
    }
    const auto* exp = claims.as_object().if_contains("exp");
    if (exp == nullptr || !exp->is_number()) {
        return std::nullopt;
    }
    double seconds = exp->to_number<double>();
    if (!std::isfinite(seconds) || seconds < 0 || seconds > max_exp) {
        return std::nullopt;
    }
    return std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
        std::chrono::seconds(static_cast<long long>(seconds))));
}

std::chrono::steady_clock::time_point to_steady(std::chrono::system_clock::time_point t,
                                                std::chrono::system_clock::time_point system_now,
                                                std::chrono::steady_clock::time_point steady_now) {
    return steady_now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(t - system_now);
}

} // namespace kamea::app::authorization
