#include "transport/request_facts.hpp"

#include "transport/cors.hpp"
#include "transport/websocket_handshake.hpp"

#include <boost/beast/websocket/rfc6455.hpp>

#include <iterator>

namespace kamea::transport {

namespace http = boost::beast::http;

query_params parse_query(const boost::urls::url_view& url) {
    query_params q;
    for (auto p : url.params()) {
        if (p.key == "EIO") {
            q.eio = p.value;
        } else if (p.key == "transport") {
            q.transport = p.value;
        } else if (p.key == "sid") {
            q.sid = p.value;
        } else if (p.key == "b64") {
            q.b64 = true;
        }
    }
    return q;
}

std::size_t header_count(const http::request_header<>& h) {
    return static_cast<std::size_t>(std::distance(h.begin(), h.end()));
}

namespace {

engineio::http_method method_of(http::verb v) {
    switch (v) {
    case http::verb::get:
        return engineio::http_method::get;
    case http::verb::post:
        return engineio::http_method::post;
    case http::verb::options:
        return engineio::http_method::options;
    default:
        return engineio::http_method::other;
    }
}

} // namespace

engineio::endpoint_request request_facts(const http::request_header<>& req, const query_params& q, bool cors_enabled,
                                         std::optional<std::string>& websocket_error) {
    engineio::endpoint_request facts;
    facts.method = method_of(req.method());
    facts.eio = q.eio;
    facts.transport = q.transport;
    facts.sid = q.sid;
    facts.upgrade = boost::beast::websocket::is_upgrade(req);
    if (facts.upgrade) {
        websocket_error =
            websocket_request_error(req[http::field::sec_websocket_version], req[http::field::sec_websocket_key]);
        facts.websocket_error = websocket_error ? std::string_view(*websocket_error) : std::string_view();
    }
    facts.origin_valid = origin_is_valid(req[http::field::origin]);
    facts.preflight = req.count(http::field::access_control_request_method) != 0;
    facts.cors_enabled = cors_enabled;
    return facts;
}

} // namespace kamea::transport
