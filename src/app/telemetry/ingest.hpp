#pragma once
// POST /internal/v1/telemetries (contract section 7): validates a request and publishes the
// accepted telemetries, as their original JSON text, to the bus. A batch is accepted or
// refused whole; the answer is 202 only once the bus confirmed all of it (503 while the bus
// is down, or when it failed midway: then a part may have been delivered).

#include "core/bus.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <atomic>
#include <string>
#include <variant>
#include <vector>

namespace kamea::app::telemetry {

using http_request = boost::beast::http::request<boost::beast::http::string_body>;
using http_response = boost::beast::http::response<boost::beast::http::string_body>;

struct ingest_options {
    std::vector<std::string> tokens; // any of them is accepted (rotation); empty: none required
};

struct ingest_stats {
    std::atomic<std::uint64_t> accepted{0};    // telemetries answered 202
    std::atomic<std::uint64_t> unavailable{0}; // requests answered 503
};

class ingest {
public:
    ingest(ingest_options options, core::bus& bus) : options_(std::move(options)), bus_(bus) {}

    // The decision without the bus: an error answer (400, 401, 405, 415), or the batch to
    // publish.
    std::variant<http_response, core::telemetry_batch> validate(const http_request& req) const;
    // The answer once the bus said how the publish went.
    static http_response answer(const http_request& req, core::publish_result result, std::size_t count);

    // Validates, publishes, waits for the bus's confirmation (on the caller's executor).
    boost::asio::awaitable<http_response> handle(const http_request& req);

    const ingest_stats& stats() const { return stats_; }

    // Shutdown: from now on every request is answered 503; settled() tells when no accepted
    // publish awaits the bus's answer any more (from any thread).
    void stop_accepting() { accepting_.store(false); }
    bool settled() const { return publishing_.load() == 0; }

private:
    ingest_options options_;
    core::bus& bus_;
    ingest_stats stats_;
    // Sequentially consistent, as a pair: a request counts itself before it reads
    // `accepting_`, so once stop_accepting() returned, settled() cannot miss a publish.
    std::atomic<bool> accepting_{true};
    std::atomic<std::size_t> publishing_{0};
};

} // namespace kamea::app::telemetry
