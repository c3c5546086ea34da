#include "ops/shutdown_sequence.hpp"

#include <algorithm>

namespace kamea::ops {

shutdown_sequence::shutdown_sequence(boost::asio::any_io_executor ex, shutdown_steps steps,
                                     std::chrono::milliseconds grace, std::chrono::milliseconds poll)
    : steps_(std::move(steps)), grace_(grace), poll_(poll), timer_(std::move(ex)) {}

void shutdown_sequence::start() {
    if (std::exchange(started_, true)) {
        return;
    }
    deadline_ = std::chrono::steady_clock::now() + grace_;
    steps_.refuse_new();
    steps_.close_transports();
    check();
}

void shutdown_sequence::check() {
    auto left = steps_.remaining();
    auto now = std::chrono::steady_clock::now();
    if (left == 0 || now >= deadline_) {
        // The bus gets what is left of the grace period, and at least a second: unbinding
        // explicitly spares the broker a queue deletion with every binding at once.
        auto budget = std::max<std::chrono::milliseconds>(
            std::chrono::milliseconds(1000), std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - now));
        steps_.release_bus(budget);
        steps_.stop(left);
        return;
    }
    timer_.expires_after(poll_);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
        if (!ec) {
            self->check();
        }
    });
}

} // namespace kamea::ops
