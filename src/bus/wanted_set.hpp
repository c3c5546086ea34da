#pragma once
// The bus's interest, without I/O: which routing keys are wanted (counted watchers), which
// are bound on the broker, which linger before their unbind, and the binding budget. Time is
// passed in and decisions come out ("bind these", "unbind these", "answer these watches"),
// so the state machine is tested without a broker. Not thread-safe: the owner locks.

#include "core/bus.hpp"

#include <chrono>
#include <cstddef>
#include <deque>
#include <optional>
#include <queue>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace kamea::bus {

class wanted_set {
public:
    using clock = std::chrono::steady_clock;
    using watch_handler = core::bus::watch_handler;

    // A watch to answer, outside the owner's lock. `waited` is set when it waited for a
    // bind-ok (the bind latency).
    struct answer {
        watch_handler done;
        core::watch_result result;
        std::optional<std::chrono::nanoseconds> waited;
    };
    using answers = std::vector<answer>;

    wanted_set(std::size_t max_bindings, std::chrono::milliseconds linger);

    // The app's verbs. Returns the answers due now (a refusal, `bound` for a bound key,
    // `deferred` while down); others come from bind_ok() or set_down().
    answers watch(const std::string& key, watch_handler done, clock::time_point now);
    void unwatch(const std::string& key, clock::time_point now);

    // The consumer's topology is ready: every wanted key is to be bound again.
    void set_up();
    // The connection is gone, and the bindings with its exclusive queue: waiting watches are
    // answered `deferred`, unwatched keys are forgotten.
    answers set_down();

    // Keys to send queue.bind for now (at most `max`); they count as in flight.
    std::vector<std::string> take_binds(std::size_t max);
    // Keys whose linger ran out with no watcher: to send queue.unbind for (at most `max`).
    std::vector<std::string> take_unbinds(clock::time_point now, std::size_t max);
    answers bind_ok(const std::string& key, clock::time_point now);
    void unbind_ok(const std::string& key);

    // Graceful stop: no more binds; every bound key is to be unbound, watched or not.
    void begin_stop();
    std::vector<std::string> take_stop_unbinds(std::size_t max);
    // Nothing is bound or in flight any more.
    bool stop_settled() const;

    // When take_unbinds() may next have work (a linger ending), if ever.
    std::optional<clock::time_point> next_expiry() const;
    bool has_binds() const { return !to_bind_.empty(); }
    // Keys bound on the broker now (an unbind in flight still counts).
    std::size_t bound() const { return bound_; }
    std::size_t size() const { return entries_.size(); }
    bool up() const { return up_; }

private:
    enum class phase { unbound, binding, bound, unbinding };
    struct waiter {
        watch_handler done;
        clock::time_point since;
    };
    struct entry {
        std::size_t count = 0;
        phase state = phase::unbound;
        clock::time_point idle_since{};
        std::vector<waiter> waiting;
    };
    using expiry = std::pair<clock::time_point, std::string>;

    void schedule_expiry(const std::string& key, const entry& e);

    std::size_t max_bindings_;
    std::chrono::milliseconds linger_;
    std::unordered_map<std::string, entry> entries_;
    std::deque<std::string> to_bind_; // may hold stale keys: checked when taken
    std::priority_queue<expiry, std::vector<expiry>, std::greater<>> expiries_; // may be stale too
    std::size_t bound_ = 0;
    bool up_ = false;
    bool stopping_ = false;
};

} // namespace kamea::bus
