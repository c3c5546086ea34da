#pragma once
// Connection state recovery as one shard's subscriptions see it (docs/recovery.md): the
// process-wide parts, shared by every shard, and what happened to the clients that asked.

#include "app/recovery/offset.hpp"
#include "app/recovery/replay_buffer.hpp"
#include "app/recovery/session_store.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>

namespace kamea::app::recovery {

// CONNECTs that named a recovery session, by outcome.
struct counters {
    std::atomic<std::uint64_t> recovered{0};
    std::atomic<std::uint64_t> unknown{0};  // no such session (expired, taken, another instance's)
    std::atomic<std::uint64_t> gap{0};      // a telemetry it missed is no longer kept
    std::atomic<std::uint64_t> denied{0};   // the API now denies one of its subscriptions
    std::atomic<std::uint64_t> error{0};    // the API could not answer
    std::atomic<std::uint64_t> replayed{0}; // telemetries sent to recovered sockets
};

struct context {
    std::chrono::seconds window{0}; // 0: recovery is off
    session_store* sessions = nullptr;
    replay_buffer* replay = nullptr;
    const offset_codec* offsets = nullptr;
    counters* stats = nullptr;
    bool on() const { return window.count() > 0; }
};

} // namespace kamea::app::recovery
