#pragma once
// The deadlines of one shard's sessions (heartbeat, upgrade, linger), with no timer object
// and no pending I/O operation per session: an idle connection holds two list nodes.
//
// Every timeout of one kind has the same length (the options are the server's), so the
// deadlines armed with one duration come due in the order they were armed: each duration
// keeps a FIFO list, armed at the back and due from the front (libev's way with constant
// timeouts), and arming or disarming is O(1). The clock is injected: the shard's loop drives
// the queue with the steady clock (transport/shard_deadlines.hpp), a unit test with a clock
// it moves by hand.

#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

namespace kamea::engineio {

using clock = std::chrono::steady_clock;

class time_source {
public:
    virtual ~time_source() = default;
    virtual clock::time_point now() const = 0;
};

class deadline;

// What a deadline calls when it comes due (a session).
class deadline_owner {
public:
    virtual void on_deadline(deadline& d) = 0;

protected:
    ~deadline_owner() = default;
};

// One deadline of an owner: linked into its duration's list while armed.
class deadline {
public:
    explicit deadline(deadline_owner& owner) : owner_(&owner) {}
    deadline(const deadline&) = delete;
    deadline& operator=(const deadline&) = delete;
    bool armed() const { return list_ != unarmed; }

private:
    friend class session_timers;
    static constexpr std::uint8_t unarmed = 0xff;
    clock::time_point at_{};
    deadline* prev_ = nullptr;
    deadline* next_ = nullptr;
    deadline_owner* owner_;
    std::uint8_t list_ = unarmed;
};

class session_timers {
public:
    explicit session_timers(const time_source& source) : clock_(source) {}
    session_timers(const session_timers&) = delete;
    session_timers& operator=(const session_timers&) = delete;

    clock::time_point now() const { return clock_.now(); }

    // Arms d to come due `after` from now (re-arming moves it). Called from on_deadline too.
    void arm(deadline& d, std::chrono::milliseconds after);
    void disarm(deadline& d);

    // Calls every deadline due by now, earliest first, each disarmed before it is called.
    // Returns the next one's time (time_point::max() when none is armed).
    clock::time_point fire_due();
    clock::time_point next_due() const;
    std::size_t armed() const { return armed_; }

    // Told when an arm makes the earliest deadline earlier than the one last returned or
    // told (the host's wake-up must move), never from inside fire_due.
    void on_earlier(std::function<void(clock::time_point)> f) { on_earlier_ = std::move(f); }

private:
    struct fifo {
        std::chrono::milliseconds duration;
        deadline* head = nullptr;
        deadline* tail = nullptr;
    };
    std::uint8_t list_for(std::chrono::milliseconds duration);

    const time_source& clock_;
    std::vector<fifo> lists_; // one per distinct duration: a handful
    std::size_t armed_ = 0;
    bool firing_ = false;
    clock::time_point host_wakes_at_ = clock::time_point::max();
    std::function<void(clock::time_point)> on_earlier_;
};

} // namespace kamea::engineio
