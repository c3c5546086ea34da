#include "app/telemetry/fanout.hpp"

#include "app/devices/devices_namespace.hpp"

#include <boost/asio/post.hpp>

namespace kamea::app::telemetry {

struct fanout::encoded {
    std::string room;
    engineio::wire_ptr packet;
};

fanout::fanout(std::vector<shard_target> shards) {
    for (auto& s : shards) {
        auto box = std::make_unique<inbox>();
        box->target = s;
        inboxes_.push_back(std::move(box));
    }
}

fanout::~fanout() = default;

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
    batch_ptr shared = std::move(items);
    for (auto& box : inboxes_) {
        bool post = false;
        {
            std::lock_guard lock(box->mutex);
            box->batches.push_back(shared);
            post = !std::exchange(box->drain_posted, true);
        }
        if (post) {
            boost::asio::post(box->target.executor, [this, b = box.get()] { drain(*b); });
        }
    }
}

// On the shard: every batch published so far, in publish order, then the room fan-out.
void fanout::drain(inbox& box) {
    std::vector<batch_ptr> batches;
    {
        std::lock_guard lock(box.mutex);
        batches.swap(box.batches);
        box.drain_posted = false;
    }
    std::uint64_t delivered = 0;
    auto& rooms = box.target.server->rooms();
    for (const auto& batch : batches) {
        for (const auto& item : *batch) {
            delivered += rooms.emit(item.room, item.packet);
        }
    }
    stats_.messages_out.fetch_add(delivered, std::memory_order_relaxed);
}

} // namespace kamea::app::telemetry
