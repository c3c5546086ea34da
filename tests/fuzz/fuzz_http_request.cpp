// HTTP requests as kamea-wss reads them (transport/http_server.cpp): Beast's request parser
// with the server's header limit, the header count, the target's parse, the Engine.IO facts
// (transport/request_facts.hpp) and the endpoint's decision (engineio/endpoint_rules.hpp).
// The first byte picks what the server would add: CORS on or off, stopping or not, and the
// session the sid names. Any bytes end in a parse error or in a decision; a refusal always
// carries an E4 code and one of the statuses the server answers with.
#include "engineio/endpoint_rules.hpp"
#include "feed_parser.hpp"
#include "transport/request_facts.hpp"

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/url/parse.hpp>

#include <cstdint>

namespace http = boost::beast::http;
using namespace kamea;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const std::uint8_t pick = data[0];
    ++data;
    --size;
    http::request_parser<http::string_body> p;
    p.header_limit(16 * 1024); // --max-header-bytes' default
    p.body_limit(64 * 1024);
    p.eager(true);
    feed_parser(p, data, size);
    if (!p.is_header_done()) {
        return 0;
    }
    const auto& req = p.get();
    if (transport::header_count(req) > 100) { // --max-headers' default: answered 431
        return 0;
    }
    auto url = boost::urls::parse_origin_form(req.target());
    if (!url) {
        return 0; // answered 400
    }
    auto q = transport::parse_query(*url);
    std::optional<std::string> websocket_error;
    auto facts = transport::request_facts(req, q, (pick & 1U) != 0, websocket_error);
    facts.stopping = (pick & 2U) != 0;
    switch ((pick >> 2U) % 5U) {
    case 0:
        break; // no session
    case 1:
        facts.session = engineio::session_facts{engineio::transport_kind::polling, false, false};
        break;
    case 2:
        facts.session = engineio::session_facts{engineio::transport_kind::polling, true, false};
        break;
    case 3:
        facts.session = engineio::session_facts{engineio::transport_kind::websocket, false, false};
        break;
    default:
        facts.session = engineio::session_facts{engineio::transport_kind::polling, false, true};
        break;
    }
    auto d = engineio::decide(facts);
    if (d.action == engineio::endpoint_action::reject || d.action == engineio::endpoint_action::refuse_upgrade) {
        auto status = d.error.http_status;
        if ((status != 400 && status != 403 && status != 413 && status != 429) || d.error.message.empty() ||
            engineio::to_json(d.error).empty()) {
            __builtin_trap();
        }
    }
    if (d.action == engineio::endpoint_action::upgrade && !facts.upgrade) {
        __builtin_trap(); // only a WebSocket upgrade request may probe a session
    }
    return 0;
}
