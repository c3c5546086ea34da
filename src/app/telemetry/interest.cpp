#include "app/telemetry/interest.hpp"

#include <boost/asio/post.hpp>

namespace kamea::app::telemetry {

interest::~interest() { *alive_ = false; }

void interest::acquire(const core::device_key& key, done_handler done) {
    auto& p = pairs_[key];
    ++p.holders;
    if (p.pending) {
        p.waiters.push_back(std::move(done));
        return;
    }
    if (p.watched) {
        done(p.result);
        return;
    }
    p.pending = true;
    p.waiters.push_back(std::move(done));
    // The bus answers on its own thread: come back to the shard.
    bus_.watch(key, [this, alive = alive_, ex = ex_, key](core::watch_result r) {
        boost::asio::post(ex, [this, alive, key, r] {
            if (*alive) {
                settle(key, r);
            }
        });
    });
}

void interest::settle(const core::device_key& key, core::watch_result result) {
    auto it = pairs_.find(key);
    if (it == pairs_.end()) {
        return; // cannot happen: a pending pair is kept until settled
    }
    auto& p = it->second;
    p.pending = false;
    auto waiters = std::move(p.waiters);
    p.waiters.clear();
    if (result == core::watch_result::refused) {
        // Not counted by the bus. Every holder left came while the watch was on its way, so
        // each is a waiter told "refused": none of them holds the pair any more.
        pairs_.erase(it);
    } else {
        p.watched = true;
        p.result = result;
        if (p.holders == 0) {
            bus_.unwatch(key); // everyone left while the watch was on its way
            pairs_.erase(it);
        }
    }
    for (auto& w : waiters) {
        w(result);
    }
}

void interest::release(const core::device_key& key) {
    auto it = pairs_.find(key);
    if (it == pairs_.end() || it->second.holders == 0) {
        return;
    }
    auto& p = it->second;
    if (--p.holders > 0 || p.pending) {
        return; // a pending pair is settled (and unwatched if still empty) when the bus answers
    }
    if (p.watched) {
        bus_.unwatch(key);
    }
    pairs_.erase(it);
}

} // namespace kamea::app::telemetry
