#include "engineio/session_timers.hpp"

#include <stdexcept>

namespace kamea::engineio {

std::uint8_t session_timers::list_for(std::chrono::milliseconds duration) {
    for (std::size_t i = 0; i < lists_.size(); ++i) {
        if (lists_[i].duration == duration) {
            return static_cast<std::uint8_t>(i);
        }
    }
    if (lists_.size() >= deadline::unarmed) {
        throw std::length_error("session_timers: too many distinct durations");
    }
    lists_.push_back(fifo{duration});
    return static_cast<std::uint8_t>(lists_.size() - 1);
}

void session_timers::arm(deadline& d, std::chrono::milliseconds after) {
    disarm(d);
    auto& list = lists_[list_for(after)];
    d.at_ = clock_.now() + after;
    d.list_ = static_cast<std::uint8_t>(&list - lists_.data());
    d.prev_ = list.tail;
    d.next_ = nullptr;
    (list.tail != nullptr ? list.tail->next_ : list.head) = &d;
    list.tail = &d;
    ++armed_;
    if (!firing_ && d.at_ < host_wakes_at_) {
        host_wakes_at_ = d.at_;
        if (on_earlier_) {
            on_earlier_(d.at_);
        }
    }
}

void session_timers::disarm(deadline& d) {
    if (!d.armed()) {
        return;
    }
    auto& list = lists_[d.list_];
    (d.prev_ != nullptr ? d.prev_->next_ : list.head) = d.next_;
    (d.next_ != nullptr ? d.next_->prev_ : list.tail) = d.prev_;
    d.prev_ = d.next_ = nullptr;
    d.list_ = deadline::unarmed;
    --armed_;
}

clock::time_point session_timers::next_due() const {
    auto next = clock::time_point::max();
    for (const auto& list : lists_) {
        if (list.head != nullptr && list.head->at_ < next) {
            next = list.head->at_;
        }
    }
    return next;
}

clock::time_point session_timers::fire_due() {
    firing_ = true;
    auto now = clock_.now();
    for (;;) {
        // The earliest head, looked up again each time: a call may arm or disarm anything
        // (its own next deadline, another session's, by closing it).
        deadline* due = nullptr;
        for (auto& list : lists_) {
            if (list.head != nullptr && list.head->at_ <= now && (due == nullptr || list.head->at_ < due->at_)) {
                due = list.head;
            }
        }
        if (due == nullptr) {
            break;
        }
        disarm(*due);
        due->owner_->on_deadline(*due);
    }
    firing_ = false;
    host_wakes_at_ = next_due();
    return host_wakes_at_;
}

} // namespace kamea::engineio
