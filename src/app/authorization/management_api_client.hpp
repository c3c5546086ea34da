#pragma once
// The Management API client of one shard (contract section 6): asynchronous on the shard's
// event loop, HTTP or HTTPS (certificates verified), keep-alive connections reused, at most
// --management-api-max-concurrency requests in flight, a deadline per check, identical
// checks in flight sharing one request, and an optional cache of allowed answers.
//
// Thread safety: used only on its shard. authorizer.hpp routes each check to the shard that
// owns its key, so coalescing and the cache work across the whole process without locks.

#include "app/authorization/verdict.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/fields.hpp>

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace kamea::app::authorization {

struct api_endpoint {
    bool https = false;
    std::string host;
    std::string port;
    std::string base_path; // without a trailing slash
};
// Parses http(s)://host[:port][/path]; nullopt if it is not such a URL.
std::optional<api_endpoint> parse_api_url(const std::string& url);

struct client_options {
    std::optional<api_endpoint> endpoint; // nullopt: not configured, every check is an error
    std::chrono::milliseconds timeout{5000};
    std::size_t max_concurrency = 64;
    std::chrono::seconds cache_ttl{0};
    // Where the checks are counted for /metrics: one set per process in the server (every
    // shard's client shares it); a client made without one counts alone (a test's).
    std::shared_ptr<call_metrics> metrics = std::make_shared<call_metrics>();
};

class management_api_client {
public:
    management_api_client(boost::asio::any_io_executor ex, client_options options, boost::asio::ssl::context* tls);
    ~management_api_client();
    management_api_client(const management_api_client&) = delete;
    management_api_client& operator=(const management_api_client&) = delete;

    // Calls `done` exactly once, later (never inside this call), on this shard.
    void check(const check_key& key, result_handler done);

private:
    struct connection;
    boost::asio::awaitable<void> run_check(check_key key);
    boost::asio::awaitable<result> exchange(const check_key& key);
    // A pooled connection still inside its Keep-Alive timeout (reused = true), else a new one.
    boost::asio::awaitable<std::unique_ptr<connection>> acquire(std::chrono::steady_clock::time_point deadline,
                                                                std::string& error, bool& reused);
    void release(std::unique_ptr<connection> c, const boost::beast::http::fields& answer);
    void finish(const check_key& key, const result& r);

    boost::asio::any_io_executor ex_;
    client_options options_;
    boost::asio::ssl::context* tls_;
    std::unordered_map<check_key, std::vector<result_handler>, check_key_hash> in_flight_;
    std::unordered_map<check_key, std::chrono::steady_clock::time_point, check_key_hash> cache_;
    std::vector<std::unique_ptr<connection>> idle_;
    std::size_t active_ = 0; // checks holding a request slot
    std::deque<std::shared_ptr<boost::asio::steady_timer>> waiting_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

} // namespace kamea::app::authorization
