#pragma once
// SIGTERM (contract section 10) as a named sequence: refuse new sessions and new ingestion;
// wait until every accepted ingestion has its answer, then until the bus has handed back what
// was published (a fence), so that nothing accepted misses a local client; close every
// transport (each flushes its queue first; no Socket.IO DISCONNECT, so stock clients
// reconnect by themselves); wait until no session or request is left; release the bus; stop
// the event loops. One grace period bounds all the waits. The steps are the composition
// root's; this object only orders and times them, so it is tested with plain callbacks.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>

namespace kamea::ops {

struct shutdown_steps {
    std::function<void()> refuse_new;                           // listeners drain, ingestion refuses
    std::function<bool()> ingest_settled;                       // no accepted publish awaits its answer
    std::function<void(std::function<void()>)> flush_bus;       // calls back (any thread) once drained
    std::function<void()> close_transports;                     // every session flushes and closes
    std::function<std::size_t()> remaining;                     // sessions and requests still open
    std::function<void(std::chrono::milliseconds)> release_bus; // unbind, within the budget
    std::function<void(std::size_t remaining)> stop;            // the loops stop; `remaining` is logged
};

class shutdown_sequence : public std::enable_shared_from_this<shutdown_sequence> {
public:
    shutdown_sequence(const boost::asio::any_io_executor& ex, shutdown_steps steps, std::chrono::milliseconds grace,
                      std::chrono::milliseconds poll = std::chrono::milliseconds(20));

    // Starts the sequence (once; later calls do nothing).
    void start();

private:
    enum class phase { idle, settling_ingest, flushing_bus, closing, done };

    void check();

    shutdown_steps steps_;
    std::chrono::milliseconds grace_;
    std::chrono::milliseconds poll_;
    boost::asio::steady_timer timer_;
    std::chrono::steady_clock::time_point deadline_{};
    phase phase_ = phase::idle;
    std::atomic<bool> bus_flushed_{false}; // set from the bus's thread
};

} // namespace kamea::ops
