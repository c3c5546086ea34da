#include "ops/metrics.hpp"

#include <cstdio>

namespace kamea::ops {
namespace {

std::string number(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return buf;
}

} // namespace

void metrics_registry::gauge(std::string name, std::string help, std::vector<labelled> series) {
    families_.push_back({std::move(name), std::move(help), "gauge", std::move(series), {}, {}});
}

void metrics_registry::gauge_family(std::string name, std::string help, series_reader read) {
    families_.push_back({std::move(name), std::move(help), "gauge", {}, {}, std::move(read)});
}

void metrics_registry::counter_family(std::string name, std::string help, series_reader read) {
    families_.push_back({std::move(name), std::move(help), "counter", {}, {}, std::move(read)});
}

void metrics_registry::counter(std::string name, std::string help, std::vector<labelled> series) {
    families_.push_back({std::move(name), std::move(help), "counter", std::move(series), {}, {}});
}

void metrics_registry::histogram(std::string name, std::string help, std::function<core::histogram::snapshot()> read) {
    families_.push_back({std::move(name), std::move(help), "histogram", {}, std::move(read), {}});
}

std::string metrics_registry::render() const {
    std::string out;
    for (const auto& f : families_) {
        out += "# HELP " + f.name + " " + f.help + "\n# TYPE " + f.name + " " + f.type + "\n";
        if (f.hist) {
            auto s = f.hist();
            std::uint64_t cumulative = 0;
            for (std::size_t i = 0; i < s.buckets.size(); ++i) {
                cumulative += s.buckets[i];
                std::string le = i < core::histogram::bounds.size() ? number(core::histogram::bounds[i]) : "+Inf";
                out += f.name + "_bucket{le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
            }
            out += f.name + "_sum " + number(s.sum_seconds) + "\n";
            out += f.name + "_count " + std::to_string(cumulative) + "\n";
            continue;
        }
        if (f.dynamic) {
            for (const auto& [labels, value] : f.dynamic()) {
                out += f.name + "{" + labels + "} " + number(value) + "\n";
            }
            continue;
        }
        for (const auto& s : f.series) {
            out += f.name;
            if (!s.labels.empty()) {
                out += "{" + s.labels + "}";
            }
            out += " " + number(s.read()) + "\n";
        }
    }
    return out;
}

} // namespace kamea::ops
