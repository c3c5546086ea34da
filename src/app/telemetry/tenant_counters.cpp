#include "app/telemetry/tenant_counters.hpp"

namespace kamea::app::telemetry {

tenant_counters::tenant_counters(std::size_t capacity)
    : capacity_(capacity), cells_(std::make_unique<cell[]>(capacity + 1)) {}

std::size_t tenant_counters::slot(std::string_view tenant) {
    std::lock_guard lock(mutex_);
    if (auto it = slots_.find(tenant); it != slots_.end()) {
        return it->second;
    }
    if (names_.size() < capacity_) {
        names_.emplace_back(tenant);
        slots_.emplace(names_.back(), names_.size() - 1);
        return names_.size() - 1;
    }
    other_used_ = true;
    return capacity_;
}

std::vector<tenant_counters::row> tenant_counters::rows() const {
    std::vector<row> out;
    std::lock_guard lock(mutex_);
    auto read = [&](std::string name, const cell& c) {
        out.push_back({std::move(name), c.in.load(std::memory_order_relaxed), c.out.load(std::memory_order_relaxed),
                       c.subscriptions.load(std::memory_order_relaxed)});
    };
    for (std::size_t i = 0; i < names_.size(); ++i) {
        read(names_[i], cells_[i]);
    }
    if (other_used_) {
        read(std::string(other), cells_[capacity_]);
    }
    return out;
}

} // namespace kamea::app::telemetry
