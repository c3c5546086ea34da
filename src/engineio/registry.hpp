#pragma once
// The sessions of one shard, by sid. Shard-local: no locks (see session.hpp).

#include "engineio/session.hpp"

#include <memory>
#include <string>
#include <unordered_map>

namespace kamea::engineio {

class registry {
public:
    std::shared_ptr<session> find(const std::string& sid) const {
        auto it = sessions_.find(sid);
        return it == sessions_.end() ? nullptr : it->second;
    }
    void add(const std::shared_ptr<session>& s) {
        s->set_on_finished([this](const std::string& sid) { sessions_.erase(sid); });
        sessions_.emplace(s->sid(), s);
    }
    std::size_t size() const { return sessions_.size(); }

    template <typename F> void for_each(F&& f) const {
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
    std::unordered_map<std::string, std::shared_ptr<session>> sessions_;
};

} // namespace kamea::engineio
