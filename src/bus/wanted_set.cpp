#include "bus/wanted_set.hpp"

namespace kamea::bus {

wanted_set::wanted_set(std::size_t max_bindings, std::chrono::milliseconds linger)
    : max_bindings_(max_bindings), linger_(linger) {}

wanted_set::answers wanted_set::watch(const std::string& key, watch_handler done, clock::time_point now) {
    answers out;
    auto it = entries_.find(key);
    if (it == entries_.end()) {
        if (entries_.size() >= max_bindings_) {
            out.push_back({std::move(done), core::watch_result::refused, std::nullopt});
            return out;
        }
        it = entries_.emplace(key, entry{}).first;
        if (up_) {
            to_bind_.push_back(key);
        }
    }
    auto& e = it->second;
    ++e.count;
    switch (e.state) {
    case phase::bound:
        out.push_back({std::move(done), core::watch_result::bound, std::nullopt});
        break;
    case phase::binding:
    case phase::unbinding: // re-bound once the unbind-ok is in (the count is no longer 0)
        e.waiting.push_back({std::move(done), now});
        break;
    case phase::unbound:
        if (up_) {
            e.waiting.push_back({std::move(done), now});
        } else {
            out.push_back({std::move(done), core::watch_result::deferred, std::nullopt});
        }
        break;
    }
    return out;
}

void wanted_set::unwatch(const std::string& key, clock::time_point now) {
    auto it = entries_.find(key);
    if (it == entries_.end() || it->second.count == 0) {
        return; // a refused or unknown key: nothing to undo
    }
    auto& e = it->second;
    if (--e.count > 0) {
        return;
    }
    if (!up_ && e.state == phase::unbound) {
        entries_.erase(it); // nothing on the broker to linger for
        return;
    }
    e.idle_since = now;
    schedule_expiry(key, e);
}

void wanted_set::schedule_expiry(const std::string& key, const entry& e) {
    expiries_.emplace(e.idle_since + linger_, key);
}

void wanted_set::set_up() {
    up_ = true;
    to_bind_.clear();
    if (stopping_) {
        return;
    }
    for (auto& [key, e] : entries_) {
        to_bind_.push_back(key);
    }
}

wanted_set::answers wanted_set::set_down() {
    answers out;
    up_ = false;
    bound_ = 0;
    to_bind_.clear();
    expiries_ = {};
    for (auto it = entries_.begin(); it != entries_.end();) {
        auto& e = it->second;
        for (auto& w : e.waiting) {
            out.push_back({std::move(w.done), core::watch_result::deferred, std::nullopt});
        }
        e.waiting.clear();
        e.state = phase::unbound;
        if (e.count == 0) {
            it = entries_.erase(it);
        } else {
            ++it;
        }
    }
    return out;
}

std::vector<std::string> wanted_set::take_binds(std::size_t max) {
    std::vector<std::string> out;
    if (!up_ || stopping_) {
        return out;
    }
    while (!to_bind_.empty() && out.size() < max) {
        auto key = std::move(to_bind_.front());
        to_bind_.pop_front();
        auto it = entries_.find(key);
        if (it != entries_.end() && it->second.state == phase::unbound) {
            it->second.state = phase::binding;
            out.push_back(std::move(key));
        }
    }
    return out;
}

std::vector<std::string> wanted_set::take_unbinds(clock::time_point now, std::size_t max) {
    std::vector<std::string> out;
    while (!expiries_.empty() && expiries_.top().first <= now && out.size() < max) {
        auto key = expiries_.top().second;
        expiries_.pop();
        auto it = entries_.find(key);
        if (it == entries_.end()) {
            continue;
        }
        auto& e = it->second;
        if (e.count > 0 || e.idle_since + linger_ > now) {
            continue; // watched again, or a later expiry stands for it
        }
        if (e.state == phase::bound) {
            e.state = phase::unbinding;
            out.push_back(std::move(key));
        } else if (e.state == phase::unbound && e.waiting.empty()) {
            entries_.erase(it);
        }
        // binding: bind_ok() schedules it again; unbinding: already on its way.
    }
    return out;
}

wanted_set::answers wanted_set::bind_ok(const std::string& key, clock::time_point now) {
    answers out;
    auto it = entries_.find(key);
    if (it == entries_.end() || it->second.state != phase::binding) {
        return out;
    }
    auto& e = it->second;
    e.state = phase::bound;
    ++bound_;
    for (auto& w : e.waiting) {
        out.push_back({std::move(w.done), core::watch_result::bound, now - w.since});
    }
    e.waiting.clear();
    if (e.count == 0) {
        schedule_expiry(key, e); // unwatched while binding: its linger may be over already
    }
    return out;
}

void wanted_set::unbind_ok(const std::string& key) {
    auto it = entries_.find(key);
    if (it == entries_.end() || it->second.state != phase::unbinding) {
        return;
    }
    auto& e = it->second;
    --bound_;
    if (e.count > 0 && !stopping_) {
        e.state = phase::unbound; // watched again while the unbind was on its way
        to_bind_.push_back(key);
    } else if (e.count > 0) {
        e.state = phase::unbound;
    } else {
        entries_.erase(it);
    }
}

void wanted_set::begin_stop() {
    stopping_ = true;
    to_bind_.clear();
}

std::vector<std::string> wanted_set::take_stop_unbinds(std::size_t max) {
    std::vector<std::string> out;
    for (auto& [key, e] : entries_) {
        if (out.size() >= max) {
            break;
        }
        if (e.state == phase::bound) {
            e.state = phase::unbinding;
            out.push_back(key);
        }
    }
    return out;
}

bool wanted_set::stop_settled() const {
    for (const auto& [key, e] : entries_) {
        if (e.state != phase::unbound) {
            return false;
        }
    }
    return true;
}

std::optional<wanted_set::clock::time_point> wanted_set::next_expiry() const {
    if (expiries_.empty()) {
        return std::nullopt;
    }
    return expiries_.top().first;
}

} // namespace kamea::bus
