#include "app/telemetry/ingest.hpp"

#include "app/telemetry/telemetry.hpp"

#include "core/json_text.hpp"

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <openssl/crypto.h>

namespace kamea::app::telemetry {

namespace http = boost::beast::http;

namespace {

http_response json_response(const http_request& req, http::status status, const boost::json::object& body) {
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
    return json_response(req, http::status::bad_request, o);
}

bool token_matches(std::string_view header, const std::vector<std::string>& tokens) {
    constexpr std::string_view prefix = "Bearer ";
    if (!header.starts_with(prefix)) {
        return false;
    }
    auto given = header.substr(prefix.size());
    // Constant time per token, and every token is compared, so neither the comparison nor
    // which token matched shows in the timing.
    bool match = false;
    for (const auto& token : tokens) {
        match |= given.size() == token.size() && CRYPTO_memcmp(given.data(), token.data(), token.size()) == 0;
    }
    return match;
}

// The bus completes on its own thread (or at once, in process): resume on the caller's
// executor. A plain function, not a coroutine, so that the co_await in handle() has no
// temporary lambda in it (GCC 12 destroys such captures twice).
boost::asio::awaitable<core::publish_result> async_publish(core::bus& bus, core::telemetry_batch batch) {
    return boost::asio::async_initiate<decltype(boost::asio::use_awaitable), void(core::publish_result)>(
        [&bus, batch = std::move(batch)](auto handler) {
            auto shared = std::make_shared<decltype(handler)>(std::move(handler));
            bus.publish(batch, [shared](core::publish_result r) {
                auto ex = boost::asio::get_associated_executor(*shared);
                boost::asio::post(ex, [shared, r] { (*shared)(r); });
            });
        },
        boost::asio::use_awaitable);
}

} // namespace

std::variant<http_response, core::telemetry_batch> ingest::validate(const http_request& req) const {
    if (req.method() != http::verb::post) {
        auto res = json_response(req, http::status::method_not_allowed,
                                 {{"error", "method_not_allowed"}, {"message", "use POST"}});
        res.set(http::field::allow, "POST");
        return res;
    }
    if (!options_.tokens.empty() && !token_matches(req[http::field::authorization], options_.tokens)) {
        return json_response(req, http::status::unauthorized,
                             {{"error", "unauthorized"}, {"message", "a valid ingest bearer token is required"}});
    }
    auto content_type = req[http::field::content_type];
    auto media = content_type.substr(0, content_type.find(';'));
    if (core::trim_json_space(media) != "application/json") {
        return json_response(
            req, http::status::unsupported_media_type,
            {{"error", "unsupported_media_type"}, {"message", "Content-Type must be application/json"}});
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
    auto stamp =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count();
    auto batch = std::make_shared<std::vector<telemetry>>();
    batch->reserve(values.size());
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
        batch->push_back({{std::string(o.at("tenantId").as_string()), std::string(o.at("deviceId").as_string())},
                          std::string(texts[i]),
                          stamp});
    }
    return core::telemetry_batch(std::move(batch));
}

http_response ingest::answer(const http_request& req, core::publish_result result, std::size_t count) {
    switch (result) {
    case core::publish_result::confirmed:
        return json_response(req, http::status::accepted, {{"accepted", count}});
    case core::publish_result::unavailable:
        return json_response(
            req, http::status::service_unavailable,
            {{"error", "unavailable"}, {"message", "the telemetry bus is down: nothing was published"}});
    case core::publish_result::failed:
        break;
    }
    return json_response(req, http::status::service_unavailable,
                         {{"error", "unavailable"},
                          {"message", "the telemetry bus failed during the request: a part may have been delivered"}});
}

boost::asio::awaitable<http_response> ingest::handle(const http_request& req) {
    auto checked = validate(req);
    if (auto* refusal = std::get_if<http_response>(&checked)) {
        co_return std::move(*refusal);
    }
    auto batch = std::get<core::telemetry_batch>(std::move(checked));
    auto count = batch->size();
    publishing_.fetch_add(1);
    struct uncount {
        std::atomic<std::size_t>& n;
        ~uncount() { n.fetch_sub(1); }
    } guard{publishing_};
    if (!accepting_.load()) {
        stats_.unavailable.fetch_add(1, std::memory_order_relaxed);
        co_return json_response(req, http::status::service_unavailable,
                                {{"error", "unavailable"}, {"message", "the server is shutting down"}});
    }
    auto result = co_await async_publish(bus_, std::move(batch));
    if (result == core::publish_result::confirmed) {
        stats_.accepted.fetch_add(count, std::memory_order_relaxed);
    } else {
        stats_.unavailable.fetch_add(1, std::memory_order_relaxed);
    }
    co_return answer(req, result, count);
}

} // namespace kamea::app::telemetry
