#include "app/telemetry/fanout.hpp"

#include "app/devices/devices_namespace.hpp"

#include <boost/asio/post.hpp>

namespace kamea::app::telemetry {

namespace {
struct encoded {
    std::string room;
    engineio::wire_ptr packet;
};
} // namespace

void fanout::publish(const std::vector<telemetry>& batch) {
    if (batch.empty()) {
        return;
    }
    auto stamp = std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::steady_clock::now().time_since_epoch()).count();
    auto items = std::make_shared<std::vector<encoded>>();
    items->reserve(batch.size());
    for (const auto& t : batch) {
        std::string body = R"(["telemetries",)";
        body += t.json;
        body += ']';
        items->push_back({room_of(t.device_id),
                          socketio::make_packet(socketio::packet_type::event, devices_namespace_name, body,
                                                std::nullopt, 0, stamp)});
    }
    stats_.telemetries_in.fetch_add(batch.size(), std::memory_order_relaxed);
    for (const auto& shard : shards_) {
        boost::asio::post(shard.executor, [items, srv = shard.server, stats = &stats_] {
            std::uint64_t delivered = 0;
            for (const auto& item : *items) {
                delivered += srv->rooms().emit(item.room, item.packet);
            }
            stats->messages_out.fetch_add(delivered, std::memory_order_relaxed);
        });
    }
}

} // namespace kamea::app::telemetry
