#include "app/telemetry/fanout.hpp"

#include <boost/asio/post.hpp>

namespace kamea::app::telemetry {

struct fanout::encoded {
    std::string room;
    engineio::wire_ptr packet;
    std::uint64_t seq = 0; // this process's fan-out order, for newest_store
};

fanout::fanout(std::string nsp, std::vector<shard_target> shards, newest_store* newest)
    : nsp_(std::move(nsp)), newest_(newest) {
    for (std::size_t i = 0; i < shards.size(); ++i) {
        auto box = std::make_unique<inbox>();
        box->target = shards[i];
        box->index = i;
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
        auto room = room_of(t.key);
        auto packet =
            socketio::make_packet(socketio::packet_type::event, nsp_, body, std::nullopt, 0, t.ingested_ns, room);
        items->push_back({std::move(room), std::move(packet), 0});
    }
    stats_.telemetries_in.fetch_add(batch->size(), std::memory_order_relaxed);
    std::lock_guard order(order_mutex_);
    for (auto& item : *items) {
        item.seq = ++next_seq_;
    }
    if (newest_ != nullptr && newest_->tracking()) {
        std::vector<newest_store::item> kept;
        kept.reserve(items->size());
        for (const auto& item : *items) {
            kept.push_back({&item.room, &item.packet, item.seq});
        }
        newest_->record(kept);
    }
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
    if (newest_ != nullptr && !batches.empty()) {
        newest_->advance(box.index, batches.back()->back().seq);
    }
    stats_.messages_out.fetch_add(delivered, std::memory_order_relaxed);
}

} // namespace kamea::app::telemetry
