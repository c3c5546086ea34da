#pragma once
// One shard's interest in (tenant, device) pairs, told to the bus (contract section 7): the
// first local holder of a pair watches it on the bus, the last one gone unwatches it, so the
// bus sees one watch per shard and pair however many sockets subscribe. A holder is told when
// the bus has the pair (bound, or deferred while the bus is down) or refused it (the binding
// budget is spent); a refused holder is no holder: it must not release. A later holder of a
// watched pair asks the bus again (a transient second watch), so that after a reconnect it is
// not acknowledged before the pair is bound again.
// Shard-local: acquire, release and the completions run on the shard's executor.

#include "core/bus.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

namespace kamea::app::telemetry {

class interest {
public:
    using done_handler = std::function<void(core::watch_result)>;

    interest(boost::asio::any_io_executor ex, core::bus& bus) : ex_(std::move(ex)), bus_(bus) {}
    ~interest();
    interest(const interest&) = delete;
    interest& operator=(const interest&) = delete;

    void acquire(const core::device_key& key, done_handler done);
    void release(const core::device_key& key);

    std::size_t pairs() const { return pairs_.size(); }

private:
    struct pair_state {
        std::size_t holders = 0;
        bool pending = false; // a watch is on its way to the bus
        bool watched = false; // the bus counts this shard's watch
        std::vector<done_handler> waiters;
    };
    void settle(const core::device_key& key, core::watch_result result, bool recheck);

    boost::asio::any_io_executor ex_;
    core::bus& bus_;
    std::unordered_map<core::device_key, pair_state, core::device_key_hash> pairs_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

} // namespace kamea::app::telemetry
