#pragma once
// Publisher confirms, without I/O: batches of messages take consecutive delivery tags; the
// broker's basic.ack/basic.nack (possibly `multiple`) settle tags; a batch resolves once all
// of its tags are settled: `confirmed` if none was nacked, else `failed`. Batches resolve in
// publish order. Not thread-safe: the publisher thread owns it.

#include "core/bus.hpp"

#include <cstdint>
#include <deque>
#include <vector>

namespace kamea::bus {

class confirm_tracker {
public:
    using handler = core::bus::publish_handler;
    struct outcome {
        handler done; // may be empty (a probe)
        core::publish_result result;
    };
    using outcomes = std::vector<outcome>;

    // A batch of `n` > 0 messages is about to be published: it takes the next n tags.
    void add(std::size_t n, handler done);
    // basic.ack (nack = false) or basic.nack from the broker.
    outcomes settle(std::uint64_t tag, bool multiple, bool nack);
    // The channel is gone: every unresolved batch failed; tags start again at 1.
    outcomes fail_all();

    std::uint64_t acked() const { return acked_; }
    std::uint64_t nacked() const { return nacked_; }
    bool idle() const { return batches_.empty(); }

private:
    enum class tag_state : std::uint8_t { pending, acked, nacked };
    struct batch {
        std::uint64_t first;
        std::uint64_t last;
        handler done;
    };

    void mark(std::uint64_t tag, bool nack);
    outcomes resolve();

    std::deque<batch> batches_;
    std::deque<tag_state> tags_; // tags_[0] is tag base_
    std::uint64_t base_ = 1;
    std::uint64_t next_ = 1;
    std::uint64_t low_ = 1; // no pending tag below it
    std::uint64_t acked_ = 0;
    std::uint64_t nacked_ = 0;
};

} // namespace kamea::bus
