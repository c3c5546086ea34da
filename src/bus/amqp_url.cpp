#include "bus/amqp_bus.hpp"

#include "core/text.hpp"

#include <amqp.h>

#include <stdexcept>
#include <string_view>

namespace kamea::bus {

namespace {

void check_url(const std::string& url) {
    auto fail = [&](const std::string& why) {
        throw std::invalid_argument("invalid AMQP URL '" + redact_url(url) + "': " + why);
    };
    if (!url.starts_with("amqp://") && !url.starts_with("amqps://")) {
        fail("the scheme must be amqp:// or amqps://");
    }
    std::string buffer = url; // amqp_parse_url writes into its input
    amqp_connection_info info{};
    if (amqp_parse_url(buffer.data(), &info) != AMQP_STATUS_OK) {
        fail("expected amqp[s]://[user[:password]@]host[:port][/vhost]");
    }
    if (info.host == nullptr || *info.host == '\0') {
        fail("the host is missing");
    }
}

} // namespace

std::vector<std::string> parse_url_list(const std::string& list) {
    std::vector<std::string> urls;
    std::string_view rest(list);
    while (true) {
        auto comma = rest.find(',');
        auto item = core::trim(rest.substr(0, comma), " \t\r\n"); // also the line ends of a file
        if (!item.empty()) {
            urls.emplace_back(item);
            check_url(urls.back());
        }
        if (comma == std::string_view::npos) {
            break;
        }
        rest.remove_prefix(comma + 1);
    }
    if (urls.empty()) {
        throw std::invalid_argument("the AMQP URL list is empty");
    }
    return urls;
}

std::string redact_url(const std::string& url) {
    auto scheme = url.find("://");
    std::size_t start = scheme == std::string::npos ? 0 : scheme + 3;
    // The last '@' ends the user info: a password with a raw '@' or '/' is still hidden.
    auto at = url.rfind('@');
    if (at == std::string::npos || at < start) {
        return url;
    }
    auto colon = url.find(':', start);
    if (colon == std::string::npos || colon > at) {
        return url;
    }
    return url.substr(0, colon + 1) + "***" + url.substr(at);
}

} // namespace kamea::bus
