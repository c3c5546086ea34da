#include "app/authorization/keep_alive.hpp"

#include "core/text.hpp"

#include <boost/beast/core/string.hpp>

#include <charconv>

namespace kamea::app::authorization {

std::optional<std::chrono::seconds> keep_alive_timeout(std::string_view header) {
    while (!header.empty()) {
        auto comma = header.find(',');
        auto param = core::trim(header.substr(0, comma));
        header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
        auto eq = param.find('=');
        if (eq == std::string_view::npos || !boost::beast::iequals(core::trim(param.substr(0, eq)), "timeout")) {
            continue;
        }
        auto value = core::trim(param.substr(eq + 1));
        long long seconds = 0;
        auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
        if (ec != std::errc{} || end != value.data() + value.size() || seconds < 0) {
            return std::nullopt;
        }
        return std::chrono::seconds{seconds};
    }
    return std::nullopt;
}

} // namespace kamea::app::authorization
