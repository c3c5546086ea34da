#include "ops/shutdown_sequence.hpp"

#include <algorithm>

namespace kamea::ops {

shutdown_sequence::shutdown_sequence(const boost::asio::any_io_executor& ex, shutdown_steps steps,
                                     std::chrono::milliseconds grace, std::chrono::milliseconds poll)
    : steps_(std::move(steps)), grace_(grace), poll_(poll), timer_(ex) {}

void shutdown_sequence::start() {
    if (phase_ != phase::idle) {
        return;
    }
    deadline_ = std::chrono::steady_clock::now() + grace_;
    phase_ = phase::settling_ingest;
    steps_.refuse_new();
    check();
}

// Polled: each phase ends when its condition holds or the grace period is over, and the
// next one starts in the same turn.
void shutdown_sequence::check() {
    auto now = std::chrono::steady_clock::now();
    bool late = now >= deadline_;
    if (phase_ == phase::settling_ingest && (late || steps_.ingest_settled())) {
        phase_ = phase::flushing_bus;
        steps_.flush_bus([self = shared_from_this()] { self->bus_flushed_.store(true, std::memory_order_release); });
    }
    if (phase_ == phase::flushing_bus && (late || bus_flushed_.load(std::memory_order_acquire))) {
        phase_ = phase::closing;
        steps_.close_transports();
    }
    if (phase_ == phase::closing) {
        auto left = steps_.remaining();
        if (left == 0 || late) {
            phase_ = phase::done;
            // The bus gets what is left of the grace period, and at least a second: unbinding
            // explicitly spares the broker a queue deletion with every binding at once.
            auto budget = std::max<std::chrono::milliseconds>(
                std::chrono::milliseconds(1000),
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - now));
            steps_.release_bus(budget);
            steps_.stop(left);
            return;
        }
    }
    timer_.expires_after(poll_);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
        if (!ec) {
            self->check();
        }
    });
}

} // namespace kamea::ops
