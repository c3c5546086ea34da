#pragma once
// SIGTERM (contract section 10) as a named sequence: refuse new sessions, close every
// transport (no Socket.IO DISCONNECT, so stock clients reconnect by themselves), wait until
// no session or request is left or the grace period ran out, release the bus, then stop the
// event loops. The steps are the composition root's; this object only orders and times them,
// so it is tested with plain callbacks and an io_context.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>

namespace kamea::ops {

struct shutdown_steps {
    std::function<void()> refuse_new;                           // listeners drain, readiness says draining
    std::function<void()> close_transports;                     // every session closes
    std::function<std::size_t()> remaining;                     // sessions and requests still open
    std::function<void(std::chrono::milliseconds)> release_bus; // unbind, within the budget
    std::function<void(std::size_t remaining)> stop;            // the loops stop; `remaining` is logged
};

class shutdown_sequence : public std::enable_shared_from_this<shutdown_sequence> {
public:
    shutdown_sequence(boost::asio::any_io_executor ex, shutdown_steps steps, std::chrono::milliseconds grace,
                      std::chrono::milliseconds poll = std::chrono::milliseconds(20));

    // Starts the sequence (once; later calls do nothing).
    void start();

private:
    void check();

    shutdown_steps steps_;
    std::chrono::milliseconds grace_;
    std::chrono::milliseconds poll_;
    boost::asio::steady_timer timer_;
    std::chrono::steady_clock::time_point deadline_{};
    bool started_ = false;
};

} // namespace kamea::ops
