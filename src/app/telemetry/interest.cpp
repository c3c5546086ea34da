#include "app/telemetry/interest.hpp"

#include <boost/asio/post.hpp>

namespace kamea::app::telemetry {

interest::~interest() {
    *alive_ = false;
}

void interest::acquire(const core::device_key& key, done_handler done) {
    auto& p = pairs_[key];
    ++p.holders;
    p.waiters.push_back(std::move(done));
    if (p.pending) {
        return; // told with the answer on its way
    }
    p.pending = true;
    // Already watched: the shard's watch stands, but what the bus said then (bound, or deferred
    // while it was down) may be stale after a reconnect. A second, transient watch is answered
    // only once the pair is bound again, so nobody is acknowledged before the bus has it.
    const bool recheck = p.watched;
    // The bus answers on its own thread: come back to the shard.
    bus_.watch(key, [this, alive = alive_, ex = ex_, key, recheck](core::watch_result r) {
        boost::asio::post(ex, [this, alive, key, r, recheck] {
            if (*alive) {
                settle(key, r, recheck);
            }
        });
    });
}

void interest::settle(const core::device_key& key, core::watch_result result, bool recheck) {
    auto it = pairs_.find(key);
    if (it == pairs_.end()) {
        return; // cannot happen: a pending pair is kept until settled
    }
    auto& p = it->second;
    p.pending = false;
    auto waiters = std::move(p.waiters);
    p.waiters.clear();
    if (recheck && result != core::watch_result::refused) {
        bus_.unwatch(key); // the transient watch; the shard's own one stands
    }
    if (recheck) {
        // Refused cannot happen for a key the bus counts already; keep the standing watch.
        result = result == core::watch_result::refused ? core::watch_result::deferred : result;
        if (p.holders == 0) {
            bus_.unwatch(key);
            pairs_.erase(it);
        }
    } else if (result == core::watch_result::refused) {
        // Not counted by the bus. Every holder left came while the watch was on its way, so
        // each is a waiter told "refused": none of them holds the pair any more.
        pairs_.erase(it);
    } else {
        p.watched = true;
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
