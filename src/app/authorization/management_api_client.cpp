#include "app/authorization/management_api_client.hpp"

#include "app/authorization/answer.hpp"
#include "app/authorization/keep_alive.hpp"
#include "app/authorization/token_expiry.hpp"
#include "core/log.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>

namespace kamea::app::authorization {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using clock = std::chrono::steady_clock;

namespace {
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t max_answer_body = std::size_t{64} * 1024;
} // namespace

std::optional<api_endpoint> parse_api_url(const std::string& url) {
    auto u = boost::urls::parse_absolute_uri(url);
    if (!u || !u->has_authority() || u->host().empty()) {
        return std::nullopt;
    }
    api_endpoint e;
    if (u->scheme() == "https") {
        e.https = true;
    } else if (u->scheme() != "http") {
        return std::nullopt;
    }
    e.host = u->host();
    e.port = u->has_port() ? std::string(u->port()) : (e.https ? "443" : "80");
    e.base_path = u->encoded_path();
    while (!e.base_path.empty() && e.base_path.back() == '/') {
        e.base_path.pop_back();
    }
    return e;
}

// One keep-alive connection to the API, plain or TLS.
struct management_api_client::connection {
    std::unique_ptr<beast::tcp_stream> plain;
    std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> secure;
    beast::flat_buffer buffer;
    clock::time_point reusable_until = clock::time_point::max(); // from the answer's Keep-Alive

    beast::tcp_stream& lowest() { return plain ? *plain : beast::get_lowest_layer(*secure); }
};

management_api_client::management_api_client(asio::any_io_executor ex, client_options options, asio::ssl::context* tls)
    : ex_(std::move(ex)), options_(std::move(options)), tls_(tls) {}

management_api_client::~management_api_client() {
    *alive_ = false;
    for (auto& w : waiting_) {
        w->cancel();
    }
}

void management_api_client::check(const check_key& key, result_handler done) {
    if (options_.cache_ttl.count() > 0) {
        auto it = cache_.find(key);
        if (it != cache_.end()) {
            if (it->second > clock::now()) {
                options_.metrics->cache_hits.fetch_add(1, std::memory_order_relaxed);
                asio::post(ex_, [done = std::move(done)] { done({verdict::allowed, {}}); });
                return;
            }
            cache_.erase(it);
        }
    }
    auto [it, first] = in_flight_.try_emplace(key);
    it->second.push_back(std::move(done));
    if (!first) {
        // the same check is already on its way: share its answer
        options_.metrics->coalesced.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    asio::co_spawn(ex_, run_check(key), asio::detached);
}

asio::awaitable<void> management_api_client::run_check(check_key key) {
    auto alive = alive_;
    auto metrics = options_.metrics; // this client may be gone when the exchange ends
    auto started = clock::now();
    auto r = co_await exchange(key);
    auto& m = *metrics;
    m.latency.observe(clock::now() - started);
    (r.outcome == verdict::allowed  ? m.allowed
     : r.outcome == verdict::denied ? m.denied
                                    : m.errors)
        .fetch_add(1, std::memory_order_relaxed);
    if (*alive) {
        finish(key, r);
    }
}

void management_api_client::finish(const check_key& key, const result& r) {
    auto it = in_flight_.find(key);
    if (it == in_flight_.end()) {
        return;
    }
    auto handlers = std::move(it->second);
    in_flight_.erase(it);
    if (r.outcome == verdict::allowed && options_.cache_ttl.count() > 0) {
        // Never past the token's own expiry: the re-check at expiry must reach the API.
        auto now = clock::now();
        auto until = now + options_.cache_ttl;
        if (auto exp = token_expiry(key.token)) {
            until = std::min(until, to_steady(*exp, std::chrono::system_clock::now(), now));
        }
        if (until > now) {
            cache_[key] = until;
        }
    }
    for (auto& h : handlers) {
        asio::post(ex_, [h = std::move(h), r] { h(r); });
    }
}

asio::awaitable<std::unique_ptr<management_api_client::connection>>
management_api_client::acquire(clock::time_point deadline, std::string& error, bool& reused) {
    reused = true;
    // Every connection past its Keep-Alive is closed now, not only the one taken: the pool is
    // used from its back, so after a burst the older ones would otherwise keep their sockets
    // (closed by the server, CLOSE_WAIT here) until a failed reuse clears them.
    auto now = clock::now();
    std::erase_if(idle_, [now](const std::unique_ptr<connection>& c) { return now >= c->reusable_until; });
    if (!idle_.empty()) {
        auto c = std::move(idle_.back());
        idle_.pop_back();
        co_return c;
    }
    reused = false;
    const auto& ep = *options_.endpoint;
    auto c = std::make_unique<connection>();
    c->plain = std::make_unique<beast::tcp_stream>(ex_);
    tcp::resolver resolver(ex_);
    auto [rec, results] = co_await resolver.async_resolve(ep.host, ep.port, nothrow);
    if (rec) {
        error = "management API host not found";
        co_return nullptr;
    }
    c->plain->expires_at(deadline);
    auto [cec, endpoint] = co_await c->plain->async_connect(results, nothrow);
    if (cec) {
        error = cec == beast::error::timeout ? "management API timeout" : "management API unreachable";
        co_return nullptr;
    }
    if (ep.https) {
        c->secure = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(std::move(*c->plain), *tls_);
        c->plain.reset();
        if (!SSL_set_tlsext_host_name(c->secure->native_handle(), ep.host.c_str())) {
            error = "management API TLS setup failed";
            co_return nullptr;
        }
        c->secure->set_verify_callback(asio::ssl::host_name_verification(ep.host));
        auto [hec] = co_await c->secure->async_handshake(asio::ssl::stream_base::client, nothrow);
        if (hec) {
            error = hec == beast::error::timeout ? "management API timeout" : "management API TLS handshake failed";
            core::log::warn("management_api_tls_failed", {{"error", hec.message()}});
            co_return nullptr;
        }
    }
    co_return c;
}

void management_api_client::release(std::unique_ptr<connection> c, const http::fields& answer) {
    if (!c) {
        return;
    }
    if (auto timeout = keep_alive_timeout(answer[http::field::keep_alive])) {
        c->reusable_until = clock::now() + *timeout;
    }
    c->lowest().expires_never();
    idle_.push_back(std::move(c));
}

asio::awaitable<result> management_api_client::exchange(const check_key& key) {
    if (!options_.endpoint) {
        co_return result{verdict::error, "authorization service not configured"};
    }
    auto deadline = clock::now() + options_.timeout;

    // Bounded concurrency: wait for a slot until the deadline.
    while (active_ >= options_.max_concurrency) {
        auto timer = std::make_shared<asio::steady_timer>(ex_, deadline);
        waiting_.push_back(timer);
        auto [ec] = co_await timer->async_wait(nothrow);
        if (!ec) {
            std::erase(waiting_, timer);
            co_return result{verdict::error, "management API timeout"};
        }
    }
    ++active_;
    struct slot_guard {
        management_api_client& c;
        ~slot_guard() {
            --c.active_;
            if (!c.waiting_.empty()) {
                c.waiting_.front()->cancel(); // wake the next waiter
                c.waiting_.pop_front();
            }
        }
    } guard{*this};

    http::request<http::string_body> req{http::verb::post,
                                         options_.endpoint->base_path + "/authorization/check-authorized", 11};
    req.set(http::field::host, options_.endpoint->host);
    req.set(http::field::authorization, "Bearer " + key.token);
    req.set(http::field::content_type, "application/json");
    req.set(http::field::user_agent, "kamea-wss");
    boost::json::object body;
    body["tenantId"] = key.tenant_id;
    body["deviceId"] = key.device_id;
    body["permission"] = "telemetries:read";
    req.body() = boost::json::serialize(body);
    req.keep_alive(true);
    req.prepare_payload();

    for (int attempt = 0; attempt < 2; ++attempt) {
        std::string error;
        bool reused = false;
        auto c = co_await acquire(deadline, error, reused);
        if (!c) {
            co_return result{verdict::error, error};
        }
        options_.metrics->requests.fetch_add(1, std::memory_order_relaxed);
        c->lowest().expires_at(deadline);
        http::response_parser<http::string_body> parser;
        parser.body_limit(max_answer_body);
        boost::system::error_code ec;
        if (c->secure) {
            auto [wec, wn] = co_await http::async_write(*c->secure, req, nothrow);
            ec = wec;
            if (!ec) {
                auto [rec, rn] = co_await http::async_read(*c->secure, c->buffer, parser, nothrow);
                ec = rec;
            }
        } else {
            auto [wec, wn] = co_await http::async_write(*c->plain, req, nothrow);
            ec = wec;
            if (!ec) {
                auto [rec, rn] = co_await http::async_read(*c->plain, c->buffer, parser, nothrow);
                ec = rec;
            }
        }
        if (ec) {
            if (ec == beast::error::timeout) {
                co_return result{verdict::error, "management API timeout"};
            }
            if (reused && attempt == 0) {
                // The server closed an idle keep-alive connection; the others idled as long, so
                // they are dropped too and the retry dials a fresh one.
                idle_.clear();
                continue;
            }
            co_return result{verdict::error, "management API unreachable"};
        }
        auto& res = parser.get();
        if (res.keep_alive()) {
            release(std::move(c), res.base());
        }
        co_return read_answer(res.result_int(), res.body());
    }
    co_return result{verdict::error, "management API unreachable"};
}

} // namespace kamea::app::authorization
