#include "app/telemetry/fanout.hpp"

#include <boost/asio/post.hpp>

namespace kamea::app::telemetry {

struct fanout::encoded {
    std::string room;
    engineio::wire_ptr packet;
};

fanout::fanout(std::string nsp, std::vector<shard_target> shards) : nsp_(std::move(nsp)) {
    for (auto& s : shards) {
        auto box = std::make_unique<inbox>();
        box->target = s;
        inboxes_.push_back(std::move(box));
    }
}

fanout::~fanout() = default;

void fanout::deliver(const core::telemetry_batch& batch) {
    if (!batch || batch->empty()) {
        return;
    }
    auto items = std::make_shared<std::vector<encoded>>();
    items->reserve(batch->size());
    for (const auto& t : *batch) {
        std::string body = R"(["telemetries",)";
        body += t.json;
        body += ']';
        items->push_back({room_of(t.key), socketio::make_packet(socketio::packet_type::event, nsp_, body, std::nullopt,
                                                                0, t.ingested_ns)});
    }
    stats_.telemetries_in.fetch_add(batch->size(), std::memory_order_relaxed);
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

// On the shard: every batch delivered so far, in publish order, then the room fan-out.
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
