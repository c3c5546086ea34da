#pragma once
// POST /internal/v1/telemetries (contract section 7): validates a request and hands the
// accepted telemetries, as their original JSON text, to the fan-out. A batch is accepted
// or refused whole.

#include "app/telemetry/fanout.hpp"

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <string>

namespace kamea::app::telemetry {

using http_request = boost::beast::http::request<boost::beast::http::string_body>;
using http_response = boost::beast::http::response<boost::beast::http::string_body>;

struct ingest_options {
    std::string token; // empty: no Authorization required
};

class ingest {
public:
    ingest(ingest_options options, fanout& out) : options_(std::move(options)), out_(out) {}

    // Answers one request to the ingestion path (202, 400, 401, 405, 415).
    http_response handle(const http_request& req);

private:
    ingest_options options_;
    fanout& out_;
};

} // namespace kamea::app::telemetry
