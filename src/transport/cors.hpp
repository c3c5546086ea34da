#pragma once
// CORS for the Engine.IO endpoints (protocol.md H1, H2): off unless --cors-origins is set.

#include <boost/beast/http/fields.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace kamea::transport {

class cors_policy {
public:
    explicit cors_policy(std::vector<std::string> origins) : origins_(std::move(origins)) {}

    bool enabled() const { return !origins_.empty(); }
    // Adds the Allow-Origin headers for a request from `origin` (empty if none was sent).
    void apply(std::string_view origin, boost::beast::http::fields& out) const;
    // Headers of a preflight answer (204).
    void apply_preflight(std::string_view origin, std::string_view request_headers,
                         boost::beast::http::fields& out) const;
    // The same headers as raw lines, for the hand-written 101 of a WebSocket upgrade.
    std::string raw_lines(std::string_view origin) const;

private:
    bool listed(std::string_view origin) const;
    std::vector<std::string> origins_;
};

// H6: characters a browser never puts in an Origin header.
bool origin_is_valid(std::string_view origin);

} // namespace kamea::transport
