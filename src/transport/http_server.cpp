#include "transport/http_server.hpp"

#include "core/ingest_clock.hpp"
#include "core/log.hpp"
#include "core/random_id.hpp"
#include "engineio/counters.hpp"
#include "engineio/endpoint_rules.hpp"
#include "transport/cors.hpp"
#include "transport/linger.hpp"
#include "transport/polling_link.hpp"
#include "transport/request_facts.hpp"
#include "transport/websocket_connection.hpp"
#include "transport/websocket_handshake.hpp"

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/url/parse.hpp>

#include <boost/asio/detached.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace kamea::transport {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace boost::asio::experimental::awaitable_operators;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
using parser_t = http::request_parser<http::string_body>;

// Counts a connection from accept to close, also across a move to another shard.
struct connection_ticket {
    http_server::state* st = nullptr;
    std::string ip;
    connection_ticket() = default;
    connection_ticket(http_server::state* s, std::string address) : st(s), ip(std::move(address)) {}
    connection_ticket(connection_ticket&& o) noexcept : st(std::exchange(o.st, nullptr)), ip(std::move(o.ip)) {}
    connection_ticket& operator=(connection_ticket&&) = delete;
    connection_ticket(const connection_ticket&) = delete;
    ~connection_ticket();
};

enum class outcome { keep_alive, close, taken };

} // namespace

// Live polling sessions per client address, shared with the sessions' tickets (which may
// outlive the server's state at shutdown).
struct address_counts {
    std::mutex mutex;
    std::unordered_map<std::string, std::size_t> live;
};

struct http_server::state {
    std::vector<std::unique_ptr<shard>>& shards;
    http_server_options options;
    route_handler routes;
    cors_policy cors;
    http_server_stats stats;
    std::unique_ptr<tcp::acceptor> acceptor;
    std::mutex per_ip_mutex;
    std::unordered_map<std::string, std::size_t> per_ip;
    std::shared_ptr<address_counts> polling_sessions = std::make_shared<address_counts>();
    // One copy for every session (each holds a reference, not its own copy).
    std::shared_ptr<const engineio::session_options> session_options;

    state(std::vector<std::unique_ptr<shard>>& s, http_server_options o, route_handler r)
        : shards(s), options(std::move(o)), routes(std::move(r)), cors(options.cors_origins),
          session_options(std::make_shared<const engineio::session_options>(options.session)) {}

    void release(const std::string& ip) {
        stats.connections.fetch_sub(1, std::memory_order_relaxed);
        if (options.max_connections_per_ip != 0) {
            std::lock_guard lock(per_ip_mutex);
            if (auto it = per_ip.find(ip); it != per_ip.end() && --it->second == 0) {
                per_ip.erase(it);
            }
        }
    }
};

connection_ticket::~connection_ticket() {
    if (st != nullptr) {
        st->release(ip);
    }
}

namespace {

using state = http_server::state;

// After an answer with request bytes unread (a body refused with 413, a malformed request):
// see linger.hpp.
asio::awaitable<void> linger_close(beast::tcp_stream& stream) {
    boost::system::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) {
        co_return;
    }
    stream.expires_after(linger_time);
    std::array<char, 8192> sink{};
    for (std::size_t total = 0; total < linger_bytes;) {
        auto [rec, n] = co_await stream.async_read_some(asio::buffer(sink), nothrow);
        if (rec) {
            break;
        }
        total += n;
    }
}

asio::awaitable<void> run_connection(state& st, shard& sh, tcp::socket socket, beast::flat_buffer buffer,
                                     std::unique_ptr<parser_t> parsed, connection_ticket ticket);
shard* idle_shard_for(const state& st, const shard& current);

void spawn(shard& sh, asio::awaitable<void> task) {
    asio::co_spawn(sh.ctx, std::move(task), [](const std::exception_ptr& e) {
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                core::log::error("connection_exception", {{"what", ex.what()}});
            }
        }
    });
}

// Counts a connection as busy while it serves a request (or carries a WebSocket).
struct busy_mark {
    shard& sh;
    explicit busy_mark(shard& s) : sh(s) { sh.busy_connections.fetch_add(1, std::memory_order_relaxed); }
    ~busy_mark() { sh.busy_connections.fetch_sub(1, std::memory_order_relaxed); }
    busy_mark(const busy_mark&) = delete;
    busy_mark& operator=(const busy_mark&) = delete;
};

http_response make_response(const parser_t& p, http::status status, std::string_view content_type, std::string body) {
    http_response res{status, p.get().version()};
    if (!content_type.empty()) {
        res.set(http::field::content_type, content_type);
    }
    res.body() = std::move(body);
    // A body we did not read would be taken for the next request: close instead.
    res.keep_alive(p.get().keep_alive() && p.is_done());
    res.prepare_payload();
    return res;
}

// E4: the error as JSON with its status; CORS headers still apply (H1).
http_response engine_error(const state& st, const parser_t& p, const engineio::endpoint_error& e) {
    auto res = make_response(p, static_cast<http::status>(e.http_status), "application/json", engineio::to_json(e));
    st.cors.apply(p.get()[http::field::origin], res);
    return res;
}

// An idle keep-alive connection is closed at --handshake-timeout (the next request's headers
// have that long). Saying so a second early (Node.js announces its own limit the same way)
// stops clients such as undici from reusing a connection just as it is closed.
void hint_idle_close(const state& st, http_response& res) {
    if (res.keep_alive()) {
        auto seconds = std::chrono::duration_cast<std::chrono::seconds>(st.options.handshake_timeout).count() - 1;
        res.set(http::field::keep_alive, "timeout=" + std::to_string(std::max<long long>(seconds, 0)));
    }
}

asio::awaitable<outcome> write(const state& st, beast::tcp_stream& stream, http_response res) {
    hint_idle_close(st, res);
    bool keep = res.keep_alive();
    stream.expires_after(std::chrono::seconds(30));
    auto [ec, n] = co_await http::async_write(stream, res, nothrow);
    co_return ec || !keep ? outcome::close : outcome::keep_alive;
}

// E5: a refused WebSocket upgrade gets a raw 400 and the socket is closed.
asio::awaitable<outcome> refuse_upgrade(beast::tcp_stream& stream, std::string_view message) {
    std::string raw = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-type: text/html\r\n"
                      "Content-Length: " +
                      std::to_string(message.size()) + "\r\n\r\n" + std::string(message);
    stream.expires_after(std::chrono::seconds(10));
    co_await asio::async_write(stream, asio::buffer(raw), nothrow);
    co_return outcome::close;
}

std::string switching_protocols(const state& st, const parser_t& p) {
    const auto& req = p.get();
    return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Accept: " +
           websocket_accept_key(req[http::field::sec_websocket_key]) + "\r\n" +
           st.cors.raw_lines(req[http::field::origin]) + "\r\n";
}

// A WebSocket that may not carry the session: 101, then a close frame.
asio::awaitable<outcome> accept_and_close(const state& st, beast::tcp_stream& stream, const parser_t& p) {
    auto raw = switching_protocols(st, p);
    raw += std::string("\x88\x00", 2);
    stream.expires_after(std::chrono::seconds(10));
    co_await asio::async_write(stream, asio::buffer(raw), nothrow);
    co_return outcome::close;
}

// Writes the 101 and runs the WebSocket in this coroutine (W1, U1).
asio::awaitable<outcome> accept_websocket(state& st, shard& sh, beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                          const parser_t& p, std::shared_ptr<engineio::session> session, bool probe,
                                          bool b64) {
    std::string response = switching_protocols(st, p);
    auto leftover = beast::buffers_to_string(buffer.data());
    stream.expires_never();
    auto conn = std::make_shared<websocket_connection>(sh, stream.release_socket(), session, probe, b64,
                                                       st.options.conformance);
    if (probe) {
        session->begin_upgrade(conn.get()); // checked by the caller, nothing ran since
    }
    // The connection lives on by itself: everything of the HTTP phase (request, parser, read
    // buffer, stream, this coroutine) is freed now instead of living as long as the WebSocket.
    conn->start(std::move(response), std::move(leftover));
    co_return outcome::taken;
}

// Reads the body of a request whose header was read with no body limit. Beast checks a
// Content-Length against the limit only while parsing the header, so check it here too.
asio::awaitable<boost::system::error_code> read_body(const state& st, beast::tcp_stream& stream,
                                                     beast::flat_buffer& buffer, parser_t& p, std::size_t limit) {
    if (auto length = p.content_length(); length && *length > limit) {
        co_return http::error::body_limit;
    }
    p.body_limit(limit);
    stream.expires_after(st.options.handshake_timeout);
    auto [ec, n] = co_await http::async_read(stream, buffer, p, nothrow);
    if (ec == beast::error::timeout) {
        st.options.session.stats->request_timeouts.fetch_add(1, std::memory_order_relaxed);
    }
    co_return ec;
}

// P1: hold the GET until the session has something for it, watching for the client
// going away meanwhile (P8).
asio::awaitable<outcome> poll_get(state& st, shard& sh, beast::tcp_stream& stream, const parser_t& p,
                                  const std::shared_ptr<engineio::session>& session) {
    polling_link link(stream.get_executor());
    switch (session->attach_poll(&link)) {
    case engineio::session::poll_result::ok:
        break;
    case engineio::session::poll_result::duplicate: // P6
        co_await write(st, stream, engine_error(st, p, engineio::bad_request));
        co_return outcome::close;
    case engineio::session::poll_result::wrong_transport:
        co_return co_await write(st, stream, engine_error(st, p, engineio::bad_request));
    }
    stream.expires_never();
    bool watch_peer = true;
    while (!session->poll_ready()) {
        if (!watch_peer) {
            co_await link.wait();
            continue;
        }
        auto which = co_await (link.wait() || stream.socket().async_wait(tcp::socket::wait_read, nothrow));
        if (which.index() == 0) {
            continue;
        }
        char byte = 0;
        auto r = ::recv(stream.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
            session->detach_poll(&link); // the client went away
            co_return outcome::close;
        }
        watch_peer = r < 0; // data from a pipelining client: stop watching, it is not EOF
    }
    std::vector<std::int64_t> stamps;
    auto body = session->take_poll_payload(&stamps);
    auto res = make_response(p, http::status::ok, "text/plain; charset=UTF-8", std::move(body));
    res.set(http::field::cache_control, "no-store");
    st.cors.apply(p.get()[http::field::origin], res);
    hint_idle_close(st, res);
    bool keep = res.keep_alive();
    stream.expires_after(std::chrono::seconds(30));
    auto [ec, n] = co_await http::async_write(stream, res, nothrow);
    if (!ec && !stamps.empty()) {
        // Written: the same measure as a WebSocket write's, on the session's shard.
        auto now = core::steady_now_ns();
        for (auto stamp : stamps) {
            sh.ingest_to_write.observe_single_writer(std::chrono::nanoseconds(now - stamp));
        }
    }
    co_return ec || !keep ? outcome::close : outcome::keep_alive;
}

// P2: decode the POST body and deliver its packets in order.
asio::awaitable<outcome> poll_post(state& st, beast::tcp_stream& stream, beast::flat_buffer& buffer, parser_t& p,
                                   const std::shared_ptr<engineio::session>& session) {
    if (!session->begin_post()) {
        // P7: a second POST while the first one's body is still arriving ends the session;
        // the reference answers 400 with no body.
        session->on_transport_closed(engineio::close_reason::transport_error);
        auto res = make_response(p, http::status::bad_request, {}, {});
        st.cors.apply(p.get()[http::field::origin], res);
        co_return co_await write(st, stream, std::move(res));
    }
    // In flight until the body is read (or the request fails), not while "ok" is written.
    struct post_guard {
        engineio::session* s;
        void release() {
            if (s != nullptr) {
                s->end_post();
                s = nullptr;
            }
        }
        ~post_guard() { release(); }
    } guard{session.get()};
    if (p.get()[http::field::content_type].starts_with("application/octet-stream")) {
        session->on_transport_closed(engineio::close_reason::parse_error); // P4
        co_return co_await write(st, stream, engine_error(st, p, engineio::bad_request));
    }
    if (!p.is_done()) {
        auto ec = co_await read_body(st, stream, buffer, p, st.options.session.max_payload);
        if (ec == http::error::body_limit) {
            session->on_transport_closed(engineio::close_reason::transport_error); // P5
            auto res = engine_error(st, p, engineio::payload_too_large);
            res.keep_alive(false);
            co_await write(st, stream, std::move(res));
            co_return outcome::close;
        }
        if (ec) {
            session->on_transport_closed(engineio::close_reason::transport_error); // P8
            co_return outcome::close;
        }
        if (session->closed()) {
            co_return outcome::close; // ended while the body arrived (e.g. P7): dropped, as the reference does
        }
    }
    guard.release();
    session->on_post(p.get().body());
    auto res = make_response(p, http::status::ok, "text/html", "ok");
    res.set(http::field::cache_control, "no-store");
    st.cors.apply(p.get()[http::field::origin], res);
    co_return co_await write(st, stream, std::move(res));
}

// Handshake (E8): a new session on this shard; its sid names the shard.
asio::awaitable<outcome> handshake(state& st, shard& sh, beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                   const parser_t& p, const query_params& q, endpoint ep, bool websocket) {
    const auto& req = p.get();
    engineio::handshake_info info;
    boost::system::error_code ec;
    auto remote = stream.socket().remote_endpoint(ec);
    info.remote_address = ec ? std::string() : remote.address().to_string();
    info.authorization = std::string(req[http::field::authorization]);
    std::shared_ptr<void> polling_ticket;
    if (!websocket && st.options.max_polling_sessions_per_ip != 0) {
        auto counts = st.polling_sessions;
        bool refused = false;
        {
            std::lock_guard lock(counts->mutex);
            auto& live = counts->live[info.remote_address];
            refused = live >= st.options.max_polling_sessions_per_ip;
            if (!refused) {
                ++live;
            }
        }
        if (refused) {
            st.stats.polling_rejected.fetch_add(1, std::memory_order_relaxed);
            core::log::warn("polling_sessions_limit",
                            {{"limit", st.options.max_polling_sessions_per_ip}, {"address", info.remote_address}});
            co_return co_await write(st, stream, engine_error(st, p, engineio::too_many_polling_sessions));
        }
        // Null, with a deleter: runs once, when the session finishes or is destroyed.
        polling_ticket = std::shared_ptr<void>(nullptr, [counts, ip = info.remote_address](void*) {
            std::lock_guard lock(counts->mutex);
            if (auto it = counts->live.find(ip); it != counts->live.end() && --it->second == 0) {
                counts->live.erase(it);
            }
        });
    }
    auto session = std::make_shared<engineio::session>(
        sh.ctx.get_executor(), sh.deadlines.timers(), core::random_id(sh.index),
        websocket ? engineio::transport_kind::websocket : engineio::transport_kind::polling, st.session_options,
        std::move(info));
    session->set_handler(sh.make_handler(*session, ep));
    session->hold_until_finished(std::move(polling_ticket));
    sh.sessions.add(session);
    core::log::debug("session_open", {{"conn", session->number()}, {"transport", q.transport}});
    if (websocket) {
        co_return co_await accept_websocket(st, sh, stream, buffer, p, session, false, q.b64);
    }
    session->open();
    auto res = make_response(p, http::status::ok, "text/plain; charset=UTF-8", session->take_poll_payload());
    res.set(http::field::cache_control, "no-store");
    if (!st.options.cookie_name.empty()) { // H3: the polling handshake only
        res.set(http::field::set_cookie,
                st.options.cookie_name + "=" + session->sid() + "; Path=/; HttpOnly; SameSite=Lax");
    }
    st.cors.apply(req[http::field::origin], res);
    co_return co_await write(st, stream, std::move(res));
}

// The Engine.IO endpoint: gathers the request's facts, lets engineio decide (endpoint_rules.hpp)
// and carries the decision out.
asio::awaitable<outcome> handle_engine(state& st, shard& sh, beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                       parser_t& p, const query_params& q, endpoint ep) {
    const auto& req = p.get();
    auto origin = req[http::field::origin];
    std::optional<std::string> websocket_error;
    auto facts = request_facts(req, q, st.cors.enabled(), websocket_error);
    facts.stopping = sh.stopping;
    std::shared_ptr<engineio::session> session;
    if (!q.sid.empty()) {
        session = sh.sessions.find(q.sid);
        if (session) {
            facts.session = engineio::session_facts{session->transport(), session->upgrading(), session->closed()};
        }
    }
    auto decision = engineio::decide(facts);
    switch (decision.action) {
    case engineio::endpoint_action::preflight: {
        auto res = make_response(p, http::status::no_content, {}, {});
        st.cors.apply_preflight(origin, req[http::field::access_control_request_headers], res);
        co_return co_await write(st, stream, std::move(res)); // H2
    }
    case engineio::endpoint_action::handshake_polling:
        co_return co_await handshake(st, sh, stream, buffer, p, q, ep, false);
    case engineio::endpoint_action::handshake_websocket:
        co_return co_await handshake(st, sh, stream, buffer, p, q, ep, true);
    case engineio::endpoint_action::poll_get:
        co_return co_await poll_get(st, sh, stream, p, session);
    case engineio::endpoint_action::poll_post:
        co_return co_await poll_post(st, stream, buffer, p, session);
    case engineio::endpoint_action::upgrade:
        co_return co_await accept_websocket(st, sh, stream, buffer, p, session, true, q.b64);
    case engineio::endpoint_action::accept_and_close:
        co_return co_await accept_and_close(st, stream, p);
    case engineio::endpoint_action::unsupported_method: {
        auto res = make_response(p, http::status::internal_server_error, {}, {});
        st.cors.apply(origin, res);
        co_return co_await write(st, stream, std::move(res));
    }
    case engineio::endpoint_action::reject:
        co_return co_await write(st, stream, engine_error(st, p, decision.error));
    case engineio::endpoint_action::refuse_upgrade:
        co_return co_await refuse_upgrade(stream, decision.error.message);
    }
    co_return outcome::close; // not reached: every action is handled above
}

// Routes that are not the Engine.IO endpoint.
asio::awaitable<outcome> handle_other(state& st, beast::tcp_stream& stream, beast::flat_buffer& buffer, parser_t& p) {
    if (!p.is_done()) {
        auto ec = co_await read_body(st, stream, buffer, p, st.options.max_body);
        if (ec == http::error::body_limit) {
            auto res = make_response(p, http::status::payload_too_large, "application/json",
                                     R"({"error":"payload_too_large"})");
            res.keep_alive(false);
            co_await write(st, stream, std::move(res));
            co_return outcome::close;
        }
        if (ec) {
            co_return outcome::close;
        }
    }
    if (st.routes) {
        if (auto res = co_await st.routes(p.get())) {
            res->keep_alive(p.get().keep_alive() && p.is_done());
            res->prepare_payload();
            co_return co_await write(st, stream, std::move(*res));
        }
    }
    co_return co_await write(st, stream,
                             make_response(p, http::status::not_found, "application/json", R"({"error":"not_found"})"));
}

// Moves a connection to the shard that owns the session its request names.
void migrate(state& st, shard& target, beast::tcp_stream& stream, beast::flat_buffer buffer,
             std::unique_ptr<parser_t> parsed, connection_ticket ticket) {
    boost::system::error_code ec;
    auto protocol = stream.socket().local_endpoint(ec).protocol();
    auto fd = stream.socket().release(ec);
    if (ec) {
        return;
    }
    asio::post(target.ctx, [&st, &target, protocol, fd, buffer = std::move(buffer), parsed = std::move(parsed),
                            ticket = std::move(ticket)]() mutable {
        tcp::socket socket(target.ctx);
        boost::system::error_code aec;
        socket.assign(protocol, fd, aec);
        if (aec) {
            ::close(fd);
            return;
        }
        spawn(target,
              run_connection(st, target, std::move(socket), std::move(buffer), std::move(parsed), std::move(ticket)));
    });
}

// 431 (RFC 6585), then the connection ends (lingering: what is left of the request is dropped).
asio::awaitable<void> refuse_headers(beast::tcp_stream& stream, const std::string& body) {
    std::string raw = "HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n"
                      "Content-Type: application/json\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n" + body;
    stream.expires_after(std::chrono::seconds(5));
    co_await asio::async_write(stream, asio::buffer(raw), nothrow);
}

asio::awaitable<void> run_connection(state& st, shard& sh, tcp::socket socket, beast::flat_buffer buffer,
                                     std::unique_ptr<parser_t> parsed, connection_ticket ticket) {
    beast::tcp_stream stream(std::move(socket));
    while (true) {
        auto p = std::move(parsed);
        if (!p) {
            p = std::make_unique<parser_t>();
            p->header_limit(static_cast<std::uint32_t>(st.options.max_header_bytes));
            // The body limit is set by the route before reading the body, so a body too
            // large gets that route's answer (413), not a generic 400.
            p->body_limit(boost::none);
            stream.expires_after(st.options.handshake_timeout);
            auto [ec, n] = co_await http::async_read_header(stream, buffer, *p, nothrow);
            if (ec == beast::error::timeout && (buffer.size() > 0 || p->got_some())) {
                // Part of a request, then nothing: slow headers (an idle connection has none).
                st.options.session.stats->request_timeouts.fetch_add(1, std::memory_order_relaxed);
            }
            if (ec == http::error::header_limit) {
                st.stats.header_bytes_rejected.fetch_add(1, std::memory_order_relaxed);
                co_await refuse_headers(stream, R"({"error":"headers_too_large","message":"request headers over )" +
                                                    std::to_string(st.options.max_header_bytes) + R"( bytes"})");
                break;
            }
            if (!ec && header_count(p->get()) > st.options.max_headers) {
                st.stats.header_count_rejected.fetch_add(1, std::memory_order_relaxed);
                co_await refuse_headers(stream, R"({"error":"too_many_headers","message":"more than )" +
                                                    std::to_string(st.options.max_headers) + R"( header fields"})");
                break;
            }
            if (ec) {
                if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == beast::error::timeout ||
                    ec == asio::error::operation_aborted || ec == asio::error::connection_reset) {
                    co_return; // gone, or too slow: no answer to protect
                }
                {
                    // Malformed HTTP: a clear 400 and the connection is closed.
                    static constexpr std::string_view bad =
                        "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n"
                        "Content-Type: application/json\r\nContent-Length: 23\r\n\r\n"
                        R"({"error":"bad_request"})";
                    stream.expires_after(std::chrono::seconds(5));
                    co_await asio::async_write(stream, asio::buffer(bad), nothrow);
                }
                break;
            }
        }
        busy_mark busy(sh);
        std::string_view target = p->get().target();
        auto url = boost::urls::parse_origin_form(target);
        if (!url) {
            co_await write(st, stream,
                           make_response(*p, http::status::bad_request, "application/json",
                                         R"({"error":"bad_request","message":"invalid target"})"));
            break;
        }
        auto path = url->encoded_path();
        std::optional<endpoint> ep;
        if (!st.options.engine_endpoints) {
            // internal listener: no Engine.IO
        } else if (path == "/socket.io/" || path == "/socket.io") {
            ep = endpoint::socketio;
        } else if (st.options.conformance && (path == "/engine.io/" || path == "/engine.io")) {
            ep = endpoint::engineio_echo;
        }
        outcome result;
        if (ep) {
            auto q = parse_query(*url);
            int tag = q.sid.empty() ? -1 : core::random_id_tag(q.sid);
            if (tag >= 0 && tag < static_cast<int>(st.shards.size()) && tag != sh.index) {
                migrate(st, *st.shards[static_cast<std::size_t>(tag)], stream, std::move(buffer), std::move(p),
                        std::move(ticket));
                co_return;
            }
            result = co_await handle_engine(st, sh, stream, buffer, *p, q, *ep);
        } else {
            if (auto* idle = idle_shard_for(st, sh)) {
                migrate(st, *idle, stream, std::move(buffer), std::move(p), std::move(ticket));
                co_return;
            }
            result = co_await handle_other(st, stream, buffer, *p);
        }
        if (result == outcome::taken) {
            co_return;
        }
        if (result == outcome::close) {
            break;
        }
    }
    co_await linger_close(stream);
}

// Fill first: the first shard that is not busy takes the connection, so that one loop carries
// an everyday load alone and the others are not woken for it (docs/performance.md, "Everyday
// efficiency"); once every shard is busy, or with fill_first off, they take turns.
shard& pick_shard(const state& st, std::size_t& next) {
    if (st.options.fill_first) {
        auto now = loop_load::clock::now();
        for (const auto& sh : st.shards) {
            if (sh->load.permille(now) < busy_permille) {
                return *sh;
            }
        }
    }
    return *st.shards[next++ % st.shards.size()];
}

// A request bound to no session (ingestion, on the internal listener) may run on any loop: when
// its loop is busy and another is not, it moves there. Otherwise a producer's keep-alive
// connections, made while the server was idle, would keep ingestion on the loop that the
// fan-out keeps busy (its answers wait behind the fan-out's turns).
shard* idle_shard_for(const state& st, const shard& current) {
    if (!st.options.fill_first) {
        return nullptr;
    }
    auto now = loop_load::clock::now();
    if (current.load.permille(now) < busy_permille) {
        return nullptr;
    }
    for (const auto& sh : st.shards) {
        if (sh.get() != &current && sh->load.permille(now) < busy_permille) {
            return sh.get();
        }
    }
    return nullptr;
}

asio::awaitable<void> accept_loop(std::shared_ptr<state> st) {
    std::size_t next = 0;
    auto& acceptor = *st->acceptor;
    asio::steady_timer backoff(acceptor.get_executor());
    while (acceptor.is_open()) {
        auto& target = pick_shard(*st, next);
        auto [ec, socket] = co_await acceptor.async_accept(target.ctx, nothrow);
        if (ec) {
            if (ec == asio::error::operation_aborted || !acceptor.is_open()) {
                co_return;
            }
            // Out of file descriptors or a transient error: back off briefly.
            core::log::warn("accept_failed", {{"error", ec.message()}});
            backoff.expires_after(std::chrono::milliseconds(50));
            co_await backoff.async_wait(nothrow);
            continue;
        }
        boost::system::error_code rec;
        auto remote = socket.remote_endpoint(rec);
        std::string ip = rec ? std::string() : remote.address().to_string();
        if (st->stats.connections.load(std::memory_order_relaxed) >= st->options.max_connections) {
            st->stats.rejected.fetch_add(1, std::memory_order_relaxed);
            socket.close(rec);
            continue;
        }
        if (st->options.max_connections_per_ip != 0) {
            std::lock_guard lock(st->per_ip_mutex);
            auto& count = st->per_ip[ip];
            if (count >= st->options.max_connections_per_ip) {
                st->stats.rejected.fetch_add(1, std::memory_order_relaxed);
                socket.close(rec);
                continue;
            }
            ++count;
        }
        st->stats.connections.fetch_add(1, std::memory_order_relaxed);
        socket.set_option(tcp::no_delay(true), rec);
        connection_ticket ticket(st.get(), std::move(ip));
        asio::post(target.ctx, [st, &target, socket = std::move(socket), ticket = std::move(ticket)]() mutable {
            spawn(target,
                  run_connection(*st, target, std::move(socket), beast::flat_buffer(), nullptr, std::move(ticket)));
        });
    }
}

} // namespace

http_server::http_server(std::vector<std::unique_ptr<shard>>& shards, http_server_options options, route_handler routes)
    : state_(std::make_shared<state>(shards, std::move(options), std::move(routes))) {}

http_server::~http_server() = default;

std::uint16_t http_server::listen(const std::string& host, std::uint16_t port) {
    auto& ctx = state_->shards.front()->ctx;
    tcp::endpoint ep(asio::ip::make_address(host), port);
    state_->acceptor = std::make_unique<tcp::acceptor>(ctx);
    state_->acceptor->open(ep.protocol());
    state_->acceptor->set_option(asio::socket_base::reuse_address(true));
    state_->acceptor->bind(ep);
    state_->acceptor->listen(asio::socket_base::max_listen_connections);
    auto bound = state_->acceptor->local_endpoint().port();
    asio::co_spawn(ctx, accept_loop(state_), asio::detached);
    return bound;
}

void http_server::drain() {
    for (auto& sh : state_->shards) {
        asio::post(sh->ctx, [s = sh.get()] { s->stopping = true; });
    }
}

const http_server_stats& http_server::stats() const {
    return state_->stats;
}

} // namespace kamea::transport
