#include "app/telemetry/fanout.hpp"

#include <boost/asio/post.hpp>

namespace kamea::app::telemetry {

struct fanout::encoded {
    std::string room;
    engineio::wire_ptr packet;
    std::uint64_t seq = 0;  // this process's fan-out order, for newest_store
    std::size_t tenant = 0; // its slot in the tenant counters
};

fanout::fanout(std::string nsp, std::vector<shard_target> shards, fanout_options options)
    : nsp_(std::move(nsp)), options_(options) {
    for (std::size_t i = 0; i < shards.size(); ++i) {
        auto box = std::make_unique<inbox>();
        box->target = shards[i];
        box->index = i;
        inboxes_.push_back(std::move(box));
    }
}

fanout::~fanout() = default;

// 42/devices,["telemetries",<json>] (with recovery: ,"<offset>" before the bracket).
engineio::wire_ptr fanout::encode(const core::telemetry& t, const std::string& room, std::uint64_t seq) const {
    std::string body = R"(["telemetries",)";
    body += t.json;
    if (options_.offsets != nullptr) {
        body += R"(,")";
        body += options_.offsets->encode(seq);
        body += '"';
    }
    body += ']';
    return socketio::make_packet(socketio::packet_type::event, nsp_, body, std::nullopt, 0, t.ingested_ns,
                                 options_.conflation ? room : std::string());
}

void fanout::deliver(const core::telemetry_batch& batch) {
    if (!batch || batch->empty()) {
        return;
    }
    auto items = std::make_shared<std::vector<encoded>>();
    items->reserve(batch->size());
    std::unique_lock order(order_mutex_, std::defer_lock);
    if (options_.offsets != nullptr) {
        // An offset is the sequence number: numbered first, then encoded, all in order.
        order.lock();
        for (const auto& t : *batch) {
            auto room = room_of(t.key);
            auto seq = ++next_seq_;
            auto packet = encode(t, room, seq);
            items->push_back({std::move(room), std::move(packet), seq});
        }
    } else {
        // Encoded outside the lock; only the numbering is ordered.
        for (const auto& t : *batch) {
            auto room = room_of(t.key);
            auto packet = encode(t, room, 0);
            items->push_back({std::move(room), std::move(packet), 0});
        }
        order.lock();
        for (auto& item : *items) {
            item.seq = ++next_seq_;
        }
    }
    stats_.telemetries_in.fetch_add(batch->size(), std::memory_order_relaxed);
    if (auto* tenants = options_.tenants) {
        // A batch is mostly one tenant's: its slot is looked up once per run of them.
        std::string_view last;
        std::size_t slot = 0;
        for (std::size_t i = 0; i < items->size(); ++i) {
            const auto& tenant = (*batch)[i].key.tenant_id;
            if (i == 0 || tenant != last) {
                slot = tenants->slot(tenant);
                last = tenant;
            }
            (*items)[i].tenant = slot;
            tenants->telemetries_in(slot, 1);
        }
    }
    auto* newest = options_.newest;
    bool keep_newest = newest != nullptr && newest->tracking();
    if (keep_newest || options_.replay != nullptr) {
        std::vector<newest_store::item> kept;
        kept.reserve(items->size());
        for (const auto& item : *items) {
            kept.push_back({&item.room, &item.packet, item.seq});
        }
        if (keep_newest) {
            newest->record(kept);
        }
        if (options_.replay != nullptr) {
            options_.replay->record(kept, std::chrono::steady_clock::now());
        }
    }
    auto last_seq = items->back().seq;
    batch_ptr shared = std::move(items);
    for (auto& box : inboxes_) {
        bool post = false;
        {
            std::lock_guard lock(box->mutex);
            if (skip(*box, last_seq)) {
                continue;
            }
            box->batches.push_back(shared);
            post = !std::exchange(box->drain_posted, true);
        }
        if (post) {
            boost::asio::post(box->target.executor, [this, b = box.get()] { drain(*b); });
        }
    }
}

// A shard without sessions has no socket in any room: it is not sent the batch (not woken
// for nothing), and its fan-out position moves past it as though it had been. The session
// count is read under the cursor's lock, which a subscriber of a session opened since takes
// before it reads the position: either it sees the skip, or the skip sees its session. Only
// with nothing ahead of it in the inbox, so the position never passes an undelivered batch.
bool fanout::skip(inbox& box, std::uint64_t last_seq) {
    const auto* sessions = box.target.sessions;
    if (sessions == nullptr || box.drain_posted || !box.batches.empty()) {
        return false;
    }
    if (options_.newest == nullptr) {
        return sessions->live() == 0;
    }
    return options_.newest->advance_if(box.index, last_seq, [sessions] { return sessions->live() == 0; });
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
            auto n = rooms.emit(item.room, item.packet);
            delivered += n;
            if (n > 0 && options_.tenants != nullptr) {
                options_.tenants->messages_out(item.tenant, n);
            }
        }
    }
    if (options_.newest != nullptr && !batches.empty()) {
        options_.newest->advance(box.index, batches.back()->back().seq);
    }
    stats_.messages_out.fetch_add(delivered, std::memory_order_relaxed);
}

} // namespace kamea::app::telemetry
