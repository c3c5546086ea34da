#include "ops/routes.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

namespace kamea::ops {

namespace http = boost::beast::http;

namespace {

std::string_view path_of(const http_request& req) {
    auto target = req.target();
    return target.substr(0, target.find('?'));
}

boost::json::object bus_json(const core::bus_status& b) {
    boost::json::object o{{"kind", b.kind}, {"state", core::to_string(b.state)}};
    if (!b.node.empty()) {
        o["node"] = b.node; // without credentials
    }
    return o;
}

} // namespace

http_response json_response(const http_request& req, http::status status, std::string body) {
    http_response res{status, req.version()};
    res.set(http::field::content_type, "application/json");
    res.body() = std::move(body);
    return res;
}

std::optional<http_response> doc_route(const doc_site& doc, const http_request& req) {
    auto found = doc.find(path_of(req));
    if (!found) {
        return std::nullopt;
    }
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
        return json_response(req, http::status::method_not_allowed, R"({"error":"method_not_allowed"})");
    }
    if (*found == nullptr) {
        return json_response(req, http::status::not_found,
                             doc.empty() ? R"({"error":"not_found","message":"documentation not built"})"
                                         : R"({"error":"not_found"})");
    }
    http_response res{http::status::ok, req.version()};
    res.set(http::field::content_type, (*found)->content_type);
    res.set(http::field::cache_control, "no-cache");
    res.body() = (*found)->body;
    return res;
}

std::optional<http_response> health::route(const http_request& req) const {
    auto path = path_of(req);
    if (path != "/health/live" && path != "/health/ready") {
        return std::nullopt;
    }
    auto bus = bus_();
    boost::json::object body{{"bus", bus_json(bus)}};
    auto status = http::status::ok;
    if (path == "/health/live") {
        body["status"] = "ok";
    } else if (draining_.load(std::memory_order_relaxed)) {
        // Not ready while draining, so load balancers stop sending new clients.
        body["status"] = "draining";
        status = http::status::service_unavailable;
    } else if (ready_requires_bus_ && bus.state != core::bus_state::connected) {
        body["status"] = "bus_unavailable";
        status = http::status::service_unavailable;
    } else {
        body["status"] = "ready";
    }
    return json_response(req, status, boost::json::serialize(body));
}

std::optional<http_response> metrics_route(const metrics_registry& metrics, const http_request& req) {
    if (path_of(req) != "/metrics") {
        return std::nullopt;
    }
    http_response res{http::status::ok, req.version()};
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    res.body() = metrics.render();
    return res;
}

} // namespace kamea::ops
