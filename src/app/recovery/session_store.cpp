#include "app/recovery/session_store.hpp"

namespace kamea::app::recovery {

void session_store::put(recoverable_session s) {
    std::optional<recoverable_session> replaced; // released outside the lock
    std::lock_guard lock(mutex_);
    subscriptions_ += s.subscriptions.size();
    auto pid = s.pid;
    auto [it, inserted] = sessions_.try_emplace(std::move(pid), std::move(s));
    if (!inserted) {
        subscriptions_ -= it->second.subscriptions.size();
        replaced = std::move(it->second);
        it->second = std::move(s);
    }
}

std::optional<recoverable_session> session_store::take(const std::string& pid,
                                                       std::chrono::steady_clock::time_point now) {
    std::optional<recoverable_session> out;
    {
        std::lock_guard lock(mutex_);
        auto it = sessions_.find(pid);
        if (it == sessions_.end()) {
            return std::nullopt;
        }
        subscriptions_ -= it->second.subscriptions.size();
        out = std::move(it->second);
        sessions_.erase(it);
    }
    if (out->expires < now) {
        return std::nullopt; // its holds go with it
    }
    return out;
}

void session_store::expire(const std::string& pid, std::chrono::steady_clock::time_point now) {
    std::optional<recoverable_session> gone; // its holds are released outside the lock
    std::lock_guard lock(mutex_);
    auto it = sessions_.find(pid);
    if (it != sessions_.end() && it->second.expires <= now) {
        subscriptions_ -= it->second.subscriptions.size();
        gone = std::move(it->second);
        sessions_.erase(it);
    }
}

std::size_t session_store::size() const {
    std::lock_guard lock(mutex_);
    return sessions_.size();
}

std::size_t session_store::subscriptions() const {
    std::lock_guard lock(mutex_);
    return subscriptions_;
}

} // namespace kamea::app::recovery
