#include "transport/cors.hpp"

#include <algorithm>

namespace kamea::transport {

namespace http = boost::beast::http;

bool cors_policy::listed(std::string_view origin) const {
    return !origin.empty() && std::find(origins_.begin(), origins_.end(), origin) != origins_.end();
}

void cors_policy::apply(std::string_view origin, http::fields& out) const {
    if (!enabled()) {
        return;
    }
    if (listed(origin)) {
        // Credentials only for origins named in the list (H4).
        out.set(http::field::access_control_allow_origin, origin);
        out.set(http::field::vary, "Origin");
        out.set(http::field::access_control_allow_credentials, "true");
    } else if (std::find(origins_.begin(), origins_.end(), "*") != origins_.end()) {
        out.set(http::field::access_control_allow_origin, "*");
    }
}

void cors_policy::apply_preflight(std::string_view origin, std::string_view request_headers, http::fields& out) const {
    apply(origin, out);
    out.set(http::field::access_control_allow_methods, "GET,HEAD,PUT,PATCH,POST,DELETE");
    if (!request_headers.empty()) {
        out.set(http::field::access_control_allow_headers, request_headers);
        out.insert(http::field::vary, "Access-Control-Request-Headers");
    }
}

std::string cors_policy::raw_lines(std::string_view origin) const {
    http::fields f;
    apply(origin, f);
    std::string lines;
    for (const auto& h : f) {
        lines.append(h.name_string());
        lines += ": ";
        lines.append(h.value());
        lines += "\r\n";
    }
    return lines;
}

bool origin_is_valid(std::string_view origin) {
    return std::all_of(origin.begin(), origin.end(), [](char ch) {
        auto c = static_cast<unsigned char>(ch);
        return c == '\t' || (c >= 0x20 && c <= 0x7e) || c >= 0x80;
    });
}

} // namespace kamea::transport
