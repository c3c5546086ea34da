#include "composition/metrics_table.hpp"

#include "app/authorization/management_api_client.hpp"
#include "app/devices/event_rate.hpp"
#include "app/telemetry/subscriptions.hpp"
#include "engineio/counters.hpp"
#include "socketio/counters.hpp"

#include <string>
#include <utility>
#include <vector>

namespace kamea::composition {

// Per-tenant series, at most --metrics-max-tenants of them plus "(other)".
void add_tenant_metrics(ops::metrics_registry& m, const app::telemetry::tenant_counters& tenants) {
    using row = app::telemetry::tenant_counters::row;
    auto family = [&tenants](auto field) {
        return [&tenants, field] {
            std::vector<std::pair<std::string, double>> out;
            for (const auto& r : tenants.rows()) {
                out.emplace_back("tenant=\"" + r.tenant + "\"", static_cast<double>(field(r)));
            }
            return out;
        };
    };
    m.counter_family("kamea_tenant_telemetries_in_total", "Telemetries accepted for delivery, by tenant",
                     family([](const row& r) { return r.telemetries_in; }));
    m.counter_family("kamea_tenant_messages_out_total", "Telemetry messages queued to sockets, by tenant",
                     family([](const row& r) { return r.messages_out; }));
    m.gauge_family("kamea_tenant_subscriptions", "Live telemetry subscriptions, by tenant",
                   family([](const row& r) { return r.subscriptions; }));
}

// Connection state recovery's figures (zero while it is off).
void add_recovery_metrics(ops::metrics_registry& m, const app::recovery::replay_buffer& replay,
                          const app::recovery::session_store& sessions, const app::recovery::counters& stats) {
    using series = ops::metrics_registry::labelled;
    auto load = [](const auto& atomic) { return [&atomic] { return static_cast<double>(atomic.load()); }; };
    m.gauge("kamea_recovery_sessions", "Lost sockets waiting to be recovered (--recovery-window)",
            {series{"", [&sessions] { return static_cast<double>(sessions.size()); }}});
    m.gauge("kamea_recovery_buffer_bytes", "Bytes of telemetries kept for recovery (--recovery-budget)",
            {series{"", [&replay] { return static_cast<double>(replay.bytes()); }}});
    m.gauge("kamea_recovery_buffer_telemetries", "Telemetries kept for recovery",
            {series{"", [&replay] { return static_cast<double>(replay.telemetries()); }}});
    m.counter("kamea_recovery_evicted_total", "Telemetries no longer kept for recovery (budget or age)",
              {series{"", [&replay] { return static_cast<double>(replay.evicted()); }}});
    m.counter("kamea_recoveries_total", "CONNECTs that named a recovery session, by outcome",
              {series{R"(result="recovered")", load(stats.recovered)},
               series{R"(result="unknown")", load(stats.unknown)}, series{R"(result="gap")", load(stats.gap)},
               series{R"(result="denied")", load(stats.denied)}, series{R"(result="error")", load(stats.error)}});
    m.counter("kamea_recovery_replayed_total", "Telemetries replayed to recovered sockets",
              {series{"", load(stats.replayed)}});
}

ops::metrics_registry make_metrics(std::vector<std::unique_ptr<transport::shard>>& shards,
                                   const app::telemetry::fanout& fanout, const app::telemetry::newest_store& newest,
                                   const app::telemetry::ingest& ingest, const core::bus& bus,
                                   const bus::amqp_stats& amqp, const transport::http_server& public_server,
                                   const service_counters& counters) {
    using series = ops::metrics_registry::labelled;
    auto load = [](const auto& atomic) { return [&atomic] { return static_cast<double>(atomic.load()); }; };
    auto& eio = *counters.engineio;
    auto& sio = *counters.socketio;
    auto& authz = *counters.authorization;
    auto& rate = *counters.event_rate;
    ops::metrics_registry m;
    m.gauge("kamea_connections", "Engine.IO sessions by transport",
            {series{R"(transport="polling")", load(eio.polling_sessions)},
             series{R"(transport="websocket")", load(eio.websocket_sessions)}});
    m.gauge("kamea_tcp_connections", "Open TCP connections on the public listener",
            {series{"", load(public_server.stats().connections)}});
    m.counter("kamea_tcp_connections_rejected_total", "Connections refused by the connection limits",
              {series{"", load(public_server.stats().rejected)}});
    m.counter("kamea_polling_sessions_rejected_total", "Polling handshakes refused past --max-polling-sessions-per-ip",
              {series{"", load(public_server.stats().polling_rejected)}});
    m.counter("kamea_http_requests_rejected_total",
              "HTTP requests refused with 431 on the public listener, past --max-header-bytes or --max-headers",
              {series{R"(reason="header_bytes")", load(public_server.stats().header_bytes_rejected)},
               series{R"(reason="header_count")", load(public_server.stats().header_count_rejected)}});
    m.gauge("kamea_namespace_sockets", "Socket.IO namespace sockets", {series{"", load(sio.sockets)}});
    m.gauge("kamea_rooms", "Rooms with at least one socket", {series{"", load(sio.rooms)}});
    m.gauge("kamea_subscriptions", "Live telemetry subscriptions",
            {series{"", load(app::telemetry::subscription_gauge())}});
    m.gauge("kamea_last_value_bytes", "Bytes of newest telemetries kept for \"last\": true (--last-value-budget)",
            {series{"", [&newest] { return static_cast<double>(newest.bytes()); }}});
    m.counter("kamea_last_values_not_kept_total", "Newest telemetries not kept for the budget",
              {series{"", [&newest] { return static_cast<double>(newest.not_kept()); }}});
    m.counter("kamea_events_rate_limited_total", "/devices events refused past --max-event-rate",
              {series{"", load(rate.refused)}});
    m.counter("kamea_event_rate_disconnects_total", "Sockets disconnected for going on past --max-event-rate",
              {series{"", load(rate.disconnects)}});
    m.counter("kamea_telemetries_in_total", "Telemetries accepted for delivery",
              {series{"", load(fanout.stats().telemetries_in)}});
    m.counter("kamea_messages_out_total", "Telemetry messages queued to sockets",
              {series{"", load(fanout.stats().messages_out)}});
    m.counter("kamea_dropped_messages_total", "Packets dropped for clients cut off as too slow",
              {series{"", load(eio.dropped_packets)}});
    m.counter("kamea_slow_clients_total", "Clients disconnected past --max-send-queue",
              {series{"", load(eio.slow_clients)}});
    m.counter("kamea_conflated_messages_total",
              "Telemetries replaced in a lagging client's queue by a newer one of the same device (--conflate-after)",
              {series{"", load(eio.conflated_packets)}});
    m.counter("kamea_sessions_opened_total", "Engine.IO sessions opened", {series{"", load(eio.sessions_opened)}});
    m.counter("kamea_sessions_closed_total", "Engine.IO sessions closed", {series{"", load(eio.sessions_closed)}});
    m.counter("kamea_protocol_errors_total", "Sessions closed for invalid packets",
              {series{"", load(eio.protocol_errors)}});
    m.counter("kamea_ping_timeouts_total", "Sessions closed by the heartbeat", {series{"", load(eio.ping_timeouts)}});
    m.counter("kamea_request_timeouts_total", "HTTP requests begun but not complete within --handshake-timeout",
              {series{"", load(eio.request_timeouts)}});
    m.counter("kamea_upgrade_timeouts_total", "Transport upgrades not finished within --upgrade-timeout",
              {series{"", load(eio.upgrade_timeouts)}});
    m.counter("kamea_authorization_calls_total", "Management API checks by result",
              {series{R"(result="allowed")", load(authz.allowed)}, series{R"(result="denied")", load(authz.denied)},
               series{R"(result="error")", load(authz.errors)}});
    m.counter("kamea_authorization_requests_total", "HTTP requests sent to the Management API",
              {series{"", load(authz.requests)}});
    m.counter("kamea_authorization_coalesced_total", "Checks that shared an identical check already in flight",
              {series{"", load(authz.coalesced)}});
    m.counter("kamea_authorization_cache_hits_total", "Checks answered from the --authz-cache-ttl cache",
              {series{"", load(authz.cache_hits)}});
    m.histogram("kamea_authorization_duration_seconds", "Management API check latency",
                [&authz] { return authz.latency.read(); });
    m.histogram("kamea_ingest_to_write_seconds", "Time from ingestion to the end of the WebSocket write", [&shards] {
        core::histogram::snapshot total;
        for (auto& sh : shards) {
            total += sh->ingest_to_write.read();
        }
        return total;
    });
    auto ring_total = [&shards](std::uint64_t (transport::send_ring::*read)() const) {
        return [&shards, read] {
            double total = 0;
            for (auto& sh : shards) {
                total += sh->sends ? static_cast<double>(((*sh->sends).*read)()) : 0.0;
            }
            return total;
        };
    };
    m.counter("kamea_ring_sends_total", "WebSocket sends handed to the kernel through io_uring",
              {series{"", ring_total(&transport::send_ring::sends)}});
    m.counter("kamea_ring_submissions_total", "io_uring submissions carrying those sends",
              {series{"", ring_total(&transport::send_ring::submissions)}});
    std::vector<series> busy;
    std::vector<series> sessions;
    for (auto& sh : shards) {
        std::string label = "loop=\"" + std::to_string(sh->index) + '"';
        busy.push_back({label, [&sh = *sh] {
                            return static_cast<double>(sh.load.permille(transport::loop_load::clock::now())) / 1000.0;
                        }});
        sessions.push_back({label, [&sh = *sh] { return static_cast<double>(sh.sessions.live()); }});
    }
    m.gauge("kamea_loop_busy_ratio", "Share of the last 100 ms an event loop spent in its flush turns",
            std::move(busy));
    m.gauge("kamea_loop_sessions", "Engine.IO sessions an event loop holds", std::move(sessions));
    m.counter("kamea_ingest_accepted_total", "Telemetries answered 202 by HTTP ingestion (confirmed by the bus)",
              {series{"", load(ingest.stats().accepted)}});
    m.counter("kamea_ingest_unavailable_total", "Ingestion requests answered 503 (bus down or failed)",
              {series{"", load(ingest.stats().unavailable)}});
    std::string kind = std::string(R"(bus=")") + bus.status().kind + '"';
    m.gauge("kamea_bus_connected", "Telemetry bus state (1 = connected)",
            {series{kind, [&bus] { return bus.status().state == core::bus_state::connected ? 1.0 : 0.0; }}});
    if (std::string_view(bus.status().kind) == "amqp") {
        m.counter("kamea_bus_reconnects_total", "Connections to the broker made again after a loss",
                  {series{"", load(amqp.reconnects)}});
        m.gauge("kamea_bus_bindings", "Routing keys bound on the broker for this instance",
                {series{"", load(amqp.bindings)}});
        m.counter("kamea_bus_unbinds_total", "Routing keys unbound (linger ended, or shutdown)",
                  {series{"", load(amqp.unbinds)}});
        m.counter("kamea_bus_bindings_refused_total", "Subscriptions refused past --amqp-max-bindings",
                  {series{"", load(amqp.bindings_refused)}});
        m.counter("kamea_bus_deliveries_total", "Telemetries received from the broker",
                  {series{"", load(amqp.deliveries_in)}});
        m.counter("kamea_bus_malformed_total", "Bus messages dropped as malformed (never delivered)",
                  {series{"", load(amqp.malformed_dropped)}});
        m.counter("kamea_bus_publish_confirms_total", "Telemetries confirmed by the broker",
                  {series{"", load(amqp.publish_confirms)}});
        m.counter("kamea_bus_publish_nacks_total", "Telemetries refused by the broker",
                  {series{"", load(amqp.publish_nacks)}});
        m.counter("kamea_bus_probes_lost_total", "Idle probes the broker did not route back",
                  {series{"", load(amqp.probes_lost)}});
        m.histogram("kamea_bus_bind_duration_seconds", "Time from a device's first subscriber to the broker's bind-ok",
                    [&amqp] { return amqp.bind_latency.read(); });
    }
    return m;
}

} // namespace kamea::composition
