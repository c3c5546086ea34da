// The Management API's answers as its client reads them (app/authorization/
// management_api_client.cpp): Beast's response parser with the client's body limit, the
// Keep-Alive hint (keep_alive.hpp) and the verdict (answer.hpp). Never a crash, and "allowed"
// only for a 200 whose body is a JSON object with "authorized": true.
#include "app/authorization/answer.hpp"
#include "app/authorization/keep_alive.hpp"
#include "feed_parser.hpp"

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/parse.hpp>

#include <cstdint>

namespace http = boost::beast::http;
using namespace kamea::app::authorization;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    http::response_parser<http::string_body> p;
    p.body_limit(64 * 1024);
    p.eager(true);
    feed_parser(p, data, size);
    if (!p.is_header_done()) {
        return 0;
    }
    const auto& res = p.get();
    if (auto t = keep_alive_timeout(res[http::field::keep_alive]); t && t->count() < 0) {
        __builtin_trap();
    }
    if (!p.is_done()) {
        return 0; // the client waits for the rest, then times out
    }
    auto r = read_answer(res.result_int(), res.body());
    if (r.outcome == verdict::allowed) {
        boost::system::error_code jec;
        auto v = boost::json::parse(res.body(), jec);
        const auto* flag = !jec && v.is_object() ? v.as_object().if_contains("authorized") : nullptr;
        if (res.result_int() != 200 || flag == nullptr || !flag->is_bool() || !flag->as_bool()) {
            __builtin_trap();
        }
    } else if (r.message.empty()) {
        __builtin_trap();
    }
    return 0;
}
