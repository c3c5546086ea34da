#include "bus/confirm_tracker.hpp"

namespace kamea::bus {

void confirm_tracker::add(std::size_t n, handler done) {
    batches_.push_back({next_, next_ + n - 1, std::move(done)});
    next_ += n;
    tags_.resize(tags_.size() + n, tag_state::pending);
}

void confirm_tracker::mark(std::uint64_t tag, bool nack) {
    auto& s = tags_[tag - base_];
    if (s != tag_state::pending) {
        return;
    }
    s = nack ? tag_state::nacked : tag_state::acked;
    ++(nack ? nacked_ : acked_);
}

confirm_tracker::outcomes confirm_tracker::settle(std::uint64_t tag, bool multiple, bool nack) {
    if (multiple && tag == 0) {
        tag = next_ - 1; // AMQP: multiple with tag 0 settles everything outstanding
    }
    if (tag < base_ || tag >= next_) {
        return {}; // unknown or already resolved
    }
    if (multiple) {
        for (auto t = std::max(low_, base_); t <= tag; ++t) {
            mark(t, nack);
        }
    } else {
        mark(tag, nack);
    }
    while (low_ < next_ && tags_[low_ - base_] != tag_state::pending) {
        ++low_;
    }
    return resolve();
}

confirm_tracker::outcomes confirm_tracker::resolve() {
    outcomes out;
    while (!batches_.empty() && batches_.front().last < low_) {
        auto& b = batches_.front();
        bool any_nack = false;
        for (auto t = b.first; t <= b.last; ++t) {
            any_nack = any_nack || tags_.front() == tag_state::nacked;
            tags_.pop_front();
        }
        base_ = b.last + 1;
        out.push_back({std::move(b.done), any_nack ? core::publish_result::failed : core::publish_result::confirmed});
        batches_.pop_front();
    }
    return out;
}

confirm_tracker::outcomes confirm_tracker::fail_all() {
    outcomes out;
    for (auto& b : batches_) {
        out.push_back({std::move(b.done), core::publish_result::failed});
    }
    batches_.clear();
    tags_.clear();
    base_ = next_ = low_ = 1;
    return out;
}

} // namespace kamea::bus
