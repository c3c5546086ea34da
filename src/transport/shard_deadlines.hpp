#pragma once
// Drives a shard's session deadlines (engineio/session_timers.hpp) from its loop: one Asio
// timer, set to the earliest deadline, instead of one per session.

#include "engineio/session_timers.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

namespace kamea::transport {

class shard_deadlines : private engineio::time_source {
public:
    explicit shard_deadlines(boost::asio::io_context& ctx) : wake_(ctx), timers_(*this) {
        timers_.on_earlier([this](engineio::clock::time_point at) { wake_at(at); });
    }
    shard_deadlines(const shard_deadlines&) = delete;
    shard_deadlines& operator=(const shard_deadlines&) = delete;

    engineio::session_timers& timers() { return timers_; }

private:
    engineio::clock::time_point now() const override { return engineio::clock::now(); }

    // `this` in the handler: the shard owns the loop, and its pending handlers are destroyed
    // before the shard is (shard::release_handlers_and_sessions).
    void wake_at(engineio::clock::time_point at) {
        wake_.expires_at(at); // a wait for a later time is cancelled
        wake_.async_wait([this](boost::system::error_code ec) {
            if (!ec) {
                if (auto next = timers_.fire_due(); next != engineio::clock::time_point::max()) {
                    wake_at(next);
                }
            }
        });
    }

    boost::asio::steady_timer wake_;
    engineio::session_timers timers_;
};

} // namespace kamea::transport
