#pragma once
// The sessions of one shard, by sid. Shard-local: no locks (see session.hpp).

#include "engineio/session.hpp"

#include <atomic>
#include <memory>
#include <string_view>
#include <unordered_map>

namespace kamea::engineio {

class registry {
public:
    std::shared_ptr<session> find(std::string_view sid) const {
        auto it = sessions_.find(sid);
        return it == sessions_.end() ? nullptr : it->second;
    }
    void add(const std::shared_ptr<session>& s) {
        s->set_on_finished([this](const std::string& sid) {
            if (sessions_.erase(sid) != 0) {
                live_.fetch_sub(1, std::memory_order_relaxed);
            }
        });
        sessions_.emplace(s->sid(), s);
        live_.fetch_add(1, std::memory_order_relaxed);
    }
    std::size_t size() const { return sessions_.size(); }
    void clear() {
        auto all = std::move(sessions_);
        sessions_.clear();
        live_.store(0, std::memory_order_relaxed);
        all.clear(); // sessions are destroyed here, after the registry no longer lists them
    }
    // The same count, readable from any thread (shutdown watches it).
    std::size_t live() const { return live_.load(std::memory_order_relaxed); }

    template <typename F>
    void for_each(F&& f) const {
        // Copy first: f may close sessions, which erases them.
        std::vector<std::shared_ptr<session>> all;
        all.reserve(sessions_.size());
        for (const auto& [sid, s] : sessions_) {
            all.push_back(s);
        }
        for (auto& s : all) {
            f(*s);
        }
    }

private:
    // Keyed by a view of the session's own sid: the entry holds the session, so the view
    // lives as long as the key.
    std::unordered_map<std::string_view, std::shared_ptr<session>> sessions_;
    std::atomic<std::size_t> live_{0};
};

} // namespace kamea::engineio
