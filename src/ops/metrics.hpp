#pragma once
// GET /metrics: Prometheus text format (contract section 8). The registry knows nothing of the
// other layers: main registers a reader per metric, called at scrape time from whatever
// thread serves the request, so each reader only loads atomics.

#include "core/histogram.hpp"

#include <functional>
#include <string>
#include <vector>

namespace kamea::ops {

class metrics_registry {
public:
    using reader = std::function<double()>;
    struct labelled {
        std::string labels; // e.g. transport="websocket"
        reader read;
    };

    void gauge(std::string name, std::string help, std::vector<labelled> series);
    void counter(std::string name, std::string help, std::vector<labelled> series);
    void histogram(std::string name, std::string help, std::function<core::histogram::snapshot()> read);

    std::string render() const;

private:
    struct family {
        std::string name, help, type;
        std::vector<labelled> series;
        std::function<core::histogram::snapshot()> hist;
    };
    std::vector<family> families_;
};

} // namespace kamea::ops
