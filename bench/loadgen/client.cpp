#include "loadgen/client.hpp"

#include "loadgen/worker.hpp"
#include "loadgen/ws_handshake.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/json/parse.hpp>

#include <charconv>
#include <cstring>

#include <cerrno>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

namespace kamea::loadgen {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
    asio::steady_timer timer(co_await asio::this_coro::executor, d);
    co_await timer.async_wait(nothrow);
}

// `message` of a CONNECT_ERROR payload {"message": "..."}, for the failure tally.
std::string connect_error_message(std::string_view data) {
    boost::system::error_code ec;
    auto v = boost::json::parse(data, ec);
    if (!ec && v.is_object()) {
        if (const auto* m = v.as_object().if_contains("message"); m != nullptr && m->is_string()) {
            return std::string(m->as_string());
        }
    }
    return "unreadable";
}

bool has_string_sid(std::string_view json) {
    boost::system::error_code ec;
    auto v = boost::json::parse(json, ec);
    if (ec || !v.is_object()) {
        return false;
    }
    const auto* sid = v.as_object().if_contains("sid");
    return sid != nullptr && sid->is_string();
}

} // namespace

client::client(worker& w, std::size_t index)
    : worker_(w), index_(index), socket_(w.executor()), ended_(w.executor()), decoder_(w.settings().max_message) {}

// Closing the socket also takes it out of the reader's epoll set; the reader itself may be
// gone already (the worker destroys it before the suspended clients).
client::~client() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

asio::awaitable<void> client::run() {
    auto result = co_await (establish() || sleep_for(worker_.settings().handshake_timeout));
    worker_.handshake_settled();
    if (result.index() == 1) {
        end("handshake_timeout");
    } else if (std::get<0>(result)) {
        co_await stay_connected();
    }
    boost::system::error_code ec;
    socket_.close(ec);
}

asio::awaitable<bool> client::establish() {
    const auto& cfg = worker_.settings();
    auto& stats = worker_.stats();
    started_ = clock_type::now();
    stats.attempted.add();

    boost::system::error_code ec;
    socket_.open(cfg.server.protocol(), ec);
    if (ec) {
        end("socket: " + ec.message()); // e.g. too many open files
        co_return false;
    }
    if (!cfg.sources.empty()) {
        // Let connect() pick the port per (source, destination) pair instead of bind(), so
        // one source address serves more than one ephemeral port range's worth of clients.
        int one = 1;
        ::setsockopt(socket_.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        socket_.bind({cfg.sources[index_ % cfg.sources.size()], 0}, ec);
        if (ec) {
            end("bind: " + ec.message());
            co_return false;
        }
    }
    auto [cec] = co_await socket_.async_connect(cfg.server, nothrow);
    if (cec) {
        if (cec != asio::error::operation_aborted) {
            end("connect: " + cec.message());
        }
        co_return false;
    }
    socket_.set_option(asio::ip::tcp::no_delay(true), ec); // as the `ws` client does
    socket_.non_blocking(true, ec);

    phase_ = phase::upgrading;
    auto request = make_upgrade_request(cfg.host_header, cfg.target, {}, worker_.random());
    out_ = std::move(request.text);
    if (!co_await flush()) {
        co_return false;
    }
    std::string head;
    for (;;) {
        auto [n, rec] = co_await read_available();
        if (rec) {
            if (rec != asio::error::operation_aborted) {
                end(rec == asio::error::eof ? "closed_during_upgrade" : "read: " + rec.message());
            }
            co_return false;
        }
        head.append(worker_.scratch().data(), n);
        auto response = parse_upgrade_response(head, request.expected_accept);
        if (response.status == upgrade_status::incomplete) {
            continue;
        }
        if (response.status != upgrade_status::ok) {
            end(response.status == upgrade_status::bad_status   ? "upgrade_http_" + std::to_string(response.http_status)
                : response.status == upgrade_status::bad_accept ? "upgrade_bad_accept"
                                                                : "upgrade_response_too_large");
            co_return false;
        }
        phase_ = phase::opening;
        on_bytes(std::string_view(head).substr(response.header_size));
        break;
    }
    head = std::string();
    for (;;) {
        if (!co_await flush()) {
            co_return false;
        }
        if (phase_ != phase::opening && phase_ != phase::joining) {
            break;
        }
        auto [n, rec] = co_await read_available();
        if (rec) {
            if (rec != asio::error::operation_aborted) {
                end(rec == asio::error::eof ? "closed_during_connect" : "read: " + rec.message());
            }
            co_return false;
        }
        on_bytes(std::string_view(worker_.scratch().data(), n));
    }
    co_return phase_ == phase::connected;
}

asio::awaitable<void> client::stay_connected() {
    boost::system::error_code ec;
    fd_ = socket_.release(ec);
    if (ec) {
        end("release: " + ec.message());
        co_return;
    }
    if (!worker_.reader().add(fd_, *this)) {
        end(std::string("epoll_ctl: ") + std::strerror(errno));
        co_return;
    }
    in_reader_ = true;
    ended_.expires_at(clock_type::time_point::max());
    co_await ended_.async_wait(nothrow);
}

// One recv per readiness: the level-triggered reader reports the socket again if more is left.
void client::on_readable() {
    if (phase_ == phase::closed) {
        return;
    }
    auto& buf = worker_.scratch();
    ssize_t n = ::recv(fd_, buf.data(), buf.size(), MSG_DONTWAIT);
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            end(std::string("read: ") + std::strerror(errno));
        }
        return;
    }
    if (n == 0) {
        end("closed_by_server_eof");
        return;
    }
    worker_.stats().bytes_in.add(static_cast<std::uint64_t>(n));
    on_bytes(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    if (!waiting_for_room_) {
        write_pending(); // replies (pongs, a close frame) go out even if the client just ended
    }
}

void client::on_writable() {
    if (phase_ != phase::closed) {
        write_pending();
    }
}

void client::write_pending() {
    if (out_.empty()) {
        return;
    }
    ssize_t n = ::send(fd_, out_.data(), out_.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            out_.clear();
            end(std::string("write: ") + std::strerror(errno));
            return;
        }
        n = 0;
    }
    worker_.stats().bytes_out.add(static_cast<std::uint64_t>(n));
    out_.erase(0, static_cast<std::size_t>(n));
    if (out_.empty() && out_.capacity() > 256) {
        std::string().swap(out_);
    }
    bool wait = !out_.empty();
    if (wait != waiting_for_room_ && in_reader_) {
        waiting_for_room_ = wait;
        worker_.reader().want_write(fd_, *this, wait);
    }
}

asio::awaitable<std::pair<std::size_t, boost::system::error_code>> client::read_available() {
    auto& buf = worker_.scratch();
    for (;;) {
        auto [wec] = co_await socket_.async_wait(asio::ip::tcp::socket::wait_read, nothrow);
        if (wec) {
            co_return std::pair{std::size_t{0}, wec};
        }
        boost::system::error_code ec;
        std::size_t n = socket_.read_some(asio::buffer(buf), ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) {
            continue;
        }
        if (!ec) {
            worker_.stats().bytes_in.add(n);
        }
        co_return std::pair{n, ec};
    }
}

asio::awaitable<bool> client::flush() {
    if (out_.empty()) {
        co_return true;
    }
    auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(out_), nothrow);
    worker_.stats().bytes_out.add(n);
    if (out_.capacity() > 256) {
        std::string().swap(out_);
    } else {
        out_.clear();
    }
    if (ec) {
        if (ec != asio::error::operation_aborted) {
            end("write: " + ec.message());
        }
        co_return false;
    }
    co_return true;
}

void client::on_bytes(std::string_view bytes) {
    if (bytes.empty() || phase_ == phase::closed) {
        return;
    }
    auto st = decoder_.feed(bytes, [this](ws_opcode op, std::string_view payload) {
        if (phase_ != phase::closed) {
            on_frame(op, payload);
        }
    });
    if (st == frame_decoder::status::protocol_error) {
        end("websocket_protocol_error");
    } else if (st == frame_decoder::status::too_big) {
        end("websocket_message_too_big");
    }
}

void client::on_frame(ws_opcode op, std::string_view payload) {
    worker_.stats().frames_in.add();
    switch (op) {
    case ws_opcode::text:
        on_engineio(payload);
        break;
    case ws_opcode::ping:
        send_frame(ws_opcode::pong, payload);
        break;
    case ws_opcode::close: {
        unsigned code = 1005;
        if (payload.size() >= 2) {
            code = (static_cast<unsigned>(static_cast<unsigned char>(payload[0])) << 8U) |
                   static_cast<unsigned char>(payload[1]);
        }
        send_frame(ws_opcode::close, payload.substr(0, std::min<std::size_t>(2, payload.size())));
        close_sent_ = true;
        end("websocket_close_" + std::to_string(code));
        break;
    }
    default: // pong, binary (no binary packets in these scenarios)
        break;
    }
}

void client::on_engineio(std::string_view packet) {
    if (packet.empty()) {
        end("engineio_empty_packet");
        return;
    }
    switch (packet[0]) {
    case '0': // open (E8)
        if (phase_ != phase::opening || !has_string_sid(packet.substr(1))) {
            end("engineio_bad_open");
            return;
        }
        phase_ = phase::joining;
        send_frame(ws_opcode::text, worker_.settings().connect_packet);
        break;
    case '2': // ping from the server (E12)
        send_frame(ws_opcode::text, "3");
        worker_.stats().pings.add();
        break;
    case '4':
        on_socketio(packet.substr(1));
        break;
    case '1':
        end("engineio_close");
        break;
    case '3':
    case '6':
        break;
    default:
        end("engineio_parse_error");
        break;
    }
}

void client::on_socketio(std::string_view packet) {
    if (packet.empty()) {
        end("socketio_empty_packet");
        return;
    }
    char type = packet[0];
    std::string_view rest = packet.substr(1);
    std::string_view nsp = "/";
    if (!rest.empty() && rest[0] == '/') {
        auto comma = rest.find(',');
        nsp = rest.substr(0, comma);
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    }
    std::optional<std::uint64_t> id;
    if (!rest.empty() && rest[0] >= '0' && rest[0] <= '9') {
        std::uint64_t v = 0;
        auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), v);
        if (ec == std::errc{}) {
            id = v;
            rest.remove_prefix(static_cast<std::size_t>(ptr - rest.data()));
        }
    }
    if (nsp != worker_.settings().nsp) {
        return;
    }
    auto& stats = worker_.stats();
    switch (type) {
    case '0': // CONNECT reply (S7)
        if (phase_ != phase::joining || !has_string_sid(rest)) {
            end("socketio_bad_connect_reply");
            return;
        }
        phase_ = phase::connected;
        {
            auto now = clock_type::now();
            stats.established.add();
            stats.last_established_ns.store(
                std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count(),
                std::memory_order_relaxed);
            stats.connect_latency.record(static_cast<std::uint64_t>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(now - started_).count()));
        }
        worker_.behaviour().on_connected(*this);
        break;
    case '4': // CONNECT_ERROR (S8)
        end("connect_error: " + connect_error_message(rest));
        break;
    case '1': // DISCONNECT from the server (S12)
        end("server_disconnect");
        break;
    case '2': // EVENT
        stats.events.add();
        worker_.behaviour().on_event(*this, rest, id);
        break;
    case '3': // ACK
        stats.acks.add();
        if (id) {
            worker_.behaviour().on_ack(*this, *id, rest);
        }
        break;
    default: // binary event/ack: unused here
        break;
    }
}

void client::emit(std::string_view args, std::optional<std::uint64_t> ack_id) {
    std::string packet = "42";
    packet += worker_.settings().nsp;
    packet += ',';
    if (ack_id) {
        packet += std::to_string(*ack_id);
    }
    packet += args;
    send_frame(ws_opcode::text, packet);
}

void client::send_frame(ws_opcode op, std::string_view payload) {
    if (close_sent_) {
        return;
    }
    append_frame(out_, op, payload, worker_.random().next());
}

void client::end(std::string reason) {
    if (phase_ == phase::closed) {
        return;
    }
    auto& stats = worker_.stats();
    if (phase_ == phase::connected) {
        stats.dropped.add();
        ++stats.drops[std::move(reason)];
    } else {
        stats.failed.add();
        ++stats.failures[std::move(reason)];
    }
    phase_ = phase::closed;
    if (in_reader_) {
        in_reader_ = false;
        worker_.reader().remove(fd_);
        ended_.cancel(); // stay_connected() returns; the coroutine then ends
    }
}

} // namespace kamea::loadgen
