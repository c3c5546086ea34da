#pragma once
// GET /metrics: Prometheus text format (contract section 8). The registry knows nothing of the
// other layers: main registers a reader per metric, called at scrape time from whatever
// thread serves the request, so each reader only loads atomics.

#include "core/histogram.hpp"

#include <functional>
#include <string>
#include <utility>
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
    // A family whose series are known only at scrape time (e.g. one per tenant): `read`
    // returns each series' labels and value.
    using series_reader = std::function<std::vector<std::pair<std::string, double>>()>;
    void gauge_family(std::string name, std::string help, series_reader read);
    void counter_family(std::string name, std::string help, series_reader read);
    void histogram(std::string name, std::string help, std::function<core::histogram::snapshot()> read);

    std::string render() const;

private:
    struct family {
        std::string name, help, type;
        std::vector<labelled> series;
        std::function<core::histogram::snapshot()> hist;
        series_reader dynamic;
    };
    std::vector<family> families_;
};

} // namespace kamea::ops
