#pragma once
// The table of every metric of contract section 8 (docs/operations.md): each name and help
// text, with the reader behind it, called at scrape time on the thread that serves /metrics.
// It reads every layer (the shards, the Socket.IO and Engine.IO counters, the application's,
// the bus's), so it belongs to the composition root, beside main.cpp, rather than to a layer.

#include "app/authorization/verdict.hpp"
#include "app/devices/event_rate.hpp"
#include "app/recovery/recovery.hpp"
#include "app/telemetry/fanout.hpp"
#include "app/telemetry/ingest.hpp"
#include "app/telemetry/newest_store.hpp"
#include "app/telemetry/tenant_counters.hpp"
#include "bus/amqp_bus.hpp"
#include "core/bus.hpp"
#include "engineio/counters.hpp"
#include "ops/metrics.hpp"
#include "socketio/counters.hpp"
#include "transport/http_server.hpp"
#include "transport/shard.hpp"

#include <memory>
#include <vector>

namespace kamea::composition {

// The counters the layers bump, one set for the process: made by main and handed to every
// layer that counts (the sessions' options, the Socket.IO servers, the Management API
// clients, the /devices namespaces), so that no layer keeps a process-wide singleton.
struct service_counters {
    std::shared_ptr<engineio::counters> engineio = std::make_shared<engineio::counters>();
    std::shared_ptr<socketio::counters> socketio = std::make_shared<socketio::counters>();
    std::shared_ptr<app::authorization::call_metrics> authorization =
        std::make_shared<app::authorization::call_metrics>();
    std::shared_ptr<app::event_rate_counters> event_rate = std::make_shared<app::event_rate_counters>();
};

// Every metric but the two families below.
ops::metrics_registry make_metrics(std::vector<std::unique_ptr<transport::shard>>& shards,
                                   const app::telemetry::fanout& fanout, const app::telemetry::newest_store& newest,
                                   const app::telemetry::ingest& ingest, const core::bus& bus,
                                   const bus::amqp_stats& amqp, const transport::http_server& public_server,
                                   const service_counters& counters);

// Connection state recovery's figures (zero while it is off).
void add_recovery_metrics(ops::metrics_registry& m, const app::recovery::replay_buffer& replay,
                          const app::recovery::session_store& sessions, const app::recovery::counters& stats);

// Per-tenant series, at most --metrics-max-tenants of them plus "(other)".
void add_tenant_metrics(ops::metrics_registry& m, const app::telemetry::tenant_counters& tenants);

} // namespace kamea::composition
