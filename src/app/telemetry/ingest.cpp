#include "app/telemetry/ingest.hpp"

#include "core/json_text.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <openssl/crypto.h>

namespace kamea::app::telemetry {

namespace http = boost::beast::http;

namespace {

http_response json_response(const http_request& req, http::status status, boost::json::object body) {
    http_response res{status, req.version()};
    res.set(http::field::content_type, "application/json");
    res.body() = boost::json::serialize(body);
    res.prepare_payload();
    return res;
}

http_response bad_request(const http_request& req, std::string message, std::optional<std::size_t> index) {
    boost::json::object o{{"error", "bad_request"}, {"message", std::move(message)}};
    if (index) {
        o["index"] = *index;
    }
    return json_response(req, http::status::bad_request, std::move(o));
}

bool token_matches(std::string_view header, const std::string& token) {
    constexpr std::string_view prefix = "Bearer ";
    if (!header.starts_with(prefix)) {
        return false;
    }
    auto given = header.substr(prefix.size());
    // Constant time, so the comparison does not reveal how much of a guess was right.
    return given.size() == token.size() && CRYPTO_memcmp(given.data(), token.data(), token.size()) == 0;
}

} // namespace

http_response ingest::handle(const http_request& req) {
    if (req.method() != http::verb::post) {
        auto res = json_response(req, http::status::method_not_allowed,
                                 {{"error", "method_not_allowed"}, {"message", "use POST"}});
        res.set(http::field::allow, "POST");
        return res;
    }
    if (!options_.token.empty() && !token_matches(req[http::field::authorization], options_.token)) {
        return json_response(req, http::status::unauthorized,
                             {{"error", "unauthorized"}, {"message", "a valid ingest bearer token is required"}});
    }
    auto content_type = req[http::field::content_type];
    auto media = content_type.substr(0, content_type.find(';'));
    if (core::trim_json_space(media) != "application/json") {
        return json_response(req, http::status::unsupported_media_type,
                             {{"error", "unsupported_media_type"},
                              {"message", "Content-Type must be application/json"}});
    }
    // The parsed batch only lives for this call: its nodes come from one arena, sized from the
    // body, instead of an allocation each (the parse is most of ingestion's cost).
    boost::json::monotonic_resource arena(req.body().size() * 2 + 1024);
    boost::system::error_code ec;
    auto value = boost::json::parse(req.body(), ec, &arena);
    if (ec) {
        return bad_request(req, "body is not valid JSON", std::nullopt);
    }
    std::vector<std::string_view> texts;
    std::vector<const boost::json::value*> values;
    if (value.is_object()) {
        texts.push_back(core::trim_json_space(req.body()));
        values.push_back(&value);
    } else if (value.is_array()) {
        texts = core::split_array_elements(req.body());
        for (const auto& v : value.as_array()) {
            values.push_back(&v);
        }
    } else {
        return bad_request(req, "body must be a telemetry object or an array of them", std::nullopt);
    }
    if (texts.size() != values.size()) {
        return bad_request(req, "body is not valid JSON", std::nullopt); // cannot happen after parse
    }
    std::vector<telemetry> batch;
    batch.reserve(values.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (!values[i]->is_object()) {
            return bad_request(req, "telemetry must be an object", i);
        }
        const auto& o = values[i]->as_object();
        for (auto field : {"deviceId", "tenantId"}) {
            if (auto why = check_id(o.if_contains(field), field)) {
                return bad_request(req, *why, i);
            }
        }
        batch.push_back({std::string(o.at("deviceId").as_string()), std::string(texts[i])});
    }
    out_.publish(batch);
    return json_response(req, http::status::accepted, {{"accepted", batch.size()}});
}

} // namespace kamea::app::telemetry
