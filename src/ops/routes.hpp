#pragma once
// The routes of operations: GET /doc (public listener), /health/live, /health/ready and
// /metrics (internal listener). Each answers its paths and returns nullopt for any other, so
// the composition root only chains them.

#include "core/bus.hpp"
#include "ops/doc_site.hpp"
#include "ops/http.hpp"
#include "ops/metrics.hpp"

#include <atomic>
#include <functional>
#include <optional>

namespace kamea::ops {

// /doc, /doc/asyncapi.yaml, /doc/asyncapi.json and the page's assets (contract section 5).
std::optional<http_response> doc_route(const doc_site& doc, const http_request& req);

// /health/live and /health/ready (contract section 8). Ready means listening and not
// draining; the bus state is in both bodies, and makes ready answer 503 only when
// `ready_requires_bus` (a broker shared by every replica must not take them all out of the
// balancer at once).
class health {
public:
    health(std::function<core::bus_status()> bus, bool ready_requires_bus)
        : bus_(std::move(bus)), ready_requires_bus_(ready_requires_bus) {}

    void set_draining() { draining_.store(true, std::memory_order_relaxed); }
    std::optional<http_response> route(const http_request& req) const;

private:
    std::function<core::bus_status()> bus_;
    bool ready_requires_bus_;
    std::atomic<bool> draining_{false};
};

// GET /metrics in Prometheus text format.
std::optional<http_response> metrics_route(const metrics_registry& metrics, const http_request& req);

} // namespace kamea::ops
