#include "floor/floor_loop.hpp"

#include "core/json_text.hpp"
#include "engineio/packet.hpp"
#include "transport/websocket_handshake.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <stdexcept>

namespace kamea::floor {

namespace {

constexpr std::size_t max_buffered = 1 << 20;
constexpr std::string_view nsp_prefix = "/devices,";

[[noreturn]] void fail(const char* what) {
    throw std::runtime_error(std::string(what) + ": " + std::strerror(errno));
}

// The value of a header line in an HTTP head, compared without case on the name.
std::string_view header_value(std::string_view head, std::string_view name) {
    std::size_t pos = head.find("\r\n");
    while (pos != std::string_view::npos && pos + 2 < head.size()) {
        pos += 2;
        auto eol = head.find("\r\n", pos);
        std::string_view line = head.substr(pos, eol - pos);
        auto colon = line.find(':');
        if (colon == name.size() && std::equal(name.begin(), name.end(), line.begin(),
                                               [](char a, char b) { return a == (b | 0x20) || a == b; })) {
            std::string_view v = line.substr(colon + 1);
            while (!v.empty() && v.front() == ' ') {
                v.remove_prefix(1);
            }
            return v;
        }
        pos = eol;
    }
    return {};
}

// A server-to-client (unmasked) text frame around `payload`, with kamea-wss's header writer.
std::string text_frame(std::string_view payload) {
    char header[10];
    auto n = engineio::write_frame_header(header, 0x1, payload.size());
    std::string out;
    out.reserve(n + payload.size());
    out.append(header, n).append(payload);
    return out;
}

// The string after `"deviceId":"` up to the next quote (the publisher writes no escapes).
std::string_view device_of(std::string_view object) {
    constexpr std::string_view key = R"("deviceId":")";
    auto at = object.find(key);
    if (at == std::string_view::npos) {
        return {};
    }
    auto start = at + key.size();
    auto end = object.find('"', start);
    return end == std::string_view::npos ? std::string_view{} : object.substr(start, end - start);
}

} // namespace

int floor_loop::listen_on(std::uint16_t port, std::uint16_t& bound) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fail("socket");
    }
    listen_fds_.push_back(fd);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one); // one listener per loop
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    if (::inet_pton(AF_INET, settings_.host.c_str(), &addr.sin_addr) != 1) {
        throw std::runtime_error("--host must be an IPv4 address");
    }
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 4096) != 0) {
        fail("bind/listen");
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    bound = ntohs(addr.sin_port);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
    return fd;
}

floor_loop::floor_loop(const settings& s, std::uint16_t port, std::optional<std::uint16_t> internal_port, int stop_fd)
    : settings_(s), stop_fd_(stop_fd) {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    inbox_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epoll_fd_ < 0 || inbox_fd_ < 0) {
        fail("epoll/eventfd");
    }
    listen_on(port, port_);
    if (internal_port) {
        listen_on(*internal_port, internal_port_);
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    for (int fd : {stop_fd_, inbox_fd_}) {
        ev.data.fd = fd;
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
    }
    if (settings_.path == send_path::uring) {
        int rc = ::io_uring_queue_init(settings_.ring_entries, &ring_, 0);
        if (rc != 0) {
            errno = -rc;
            fail("io_uring_queue_init");
        }
        ring_ready_ = true;
        completions_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        ::io_uring_register_eventfd_async(&ring_, completions_fd_);
        ev.data.fd = completions_fd_;
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, completions_fd_, &ev);
    }
}

floor_loop::~floor_loop() {
    for (auto& [fd, c] : connections_) {
        ::close(fd);
    }
    if (ring_ready_) {
        ::io_uring_queue_exit(&ring_);
    }
    for (int fd : listen_fds_) {
        ::close(fd);
    }
    for (int fd : {epoll_fd_, inbox_fd_, completions_fd_}) {
        if (fd >= 0) {
            ::close(fd);
        }
    }
}

void floor_loop::run() {
    std::array<epoll_event, 256> events{};
    for (;;) {
        int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), -1);
        if (n < 0 && errno != EINTR) {
            fail("epoll_wait");
        }
        for (int i = 0; i < n; ++i) {
            int fd = events[static_cast<std::size_t>(i)].data.fd;
            if (fd == stop_fd_) {
                return;
            }
            if (std::find(listen_fds_.begin(), listen_fds_.end(), fd) != listen_fds_.end()) {
                accept_all(fd);
            } else if (fd == inbox_fd_) {
                drain_inbox();
            } else if (fd == completions_fd_) {
                std::uint64_t ignored = 0;
                (void)!::read(completions_fd_, &ignored, sizeof ignored);
            } else if (auto it = connections_.find(fd); it != connections_.end()) {
                on_readable(it->second);
            }
        }
        if (ring_ready_) {
            submit_and_reap(); // one submission for every send of this turn
        }
    }
}

void floor_loop::accept_all(int listen_fd) {
    for (;;) {
        int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            return; // EAGAIN, or out of descriptors: the backlog keeps the rest
        }
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
        connections_[fd].fd = fd;
        ++stats_.connections;
    }
}

void floor_loop::on_readable(connection& c) {
    std::array<char, 16384> buf{};
    ssize_t n = ::recv(c.fd, buf.data(), buf.size(), 0);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return;
        }
        close(c);
        return;
    }
    auto size = static_cast<std::size_t>(n);
    bool keep = true;
    if (c.frames) {
        keep = on_frames(c, buf.data(), size);
    } else {
        keep = on_http(c, std::string_view(buf.data(), size));
    }
    if (!keep || c.http_in.size() > max_buffered) {
        close(c);
    }
}

bool floor_loop::on_http(connection& c, std::string_view bytes) {
    c.http_in.append(bytes);
    for (;;) {
        auto end = c.http_in.find("\r\n\r\n");
        if (end == std::string::npos) {
            return true;
        }
        std::string_view head(c.http_in.data(), end + 4);
        if (head.starts_with("GET ")) {
            std::string accept = transport::websocket_accept_key(header_value(head, "sec-websocket-key"));
            std::string reply = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                "Connection: Upgrade\r\nSec-WebSocket-Accept: " +
                                accept + "\r\n\r\n";
            reply += text_frame(R"(0{"sid":"floor)" + std::to_string(c.fd) +
                                R"(","upgrades":[],"pingInterval":3600000,"pingTimeout":20000,"maxPayload":1000000})");
            (void)!::send(c.fd, reply.data(), reply.size(), MSG_NOSIGNAL);
            // Whatever followed the request is already WebSocket frames.
            std::string rest = c.http_in.substr(end + 4);
            std::string().swap(c.http_in);
            c.frames = std::make_unique<transport::frame_parser>(max_buffered);
            return on_frames(c, rest.data(), rest.size());
        }
        if (!head.starts_with("POST ")) {
            return false;
        }
        std::string_view length = header_value(head, "content-length");
        std::size_t body_size = std::strtoull(std::string(length).c_str(), nullptr, 10);
        if (c.http_in.size() < end + 4 + body_size) {
            return true;
        }
        std::size_t accepted = ingest(std::string_view(c.http_in).substr(end + 4, body_size));
        // The answer goes out once the deliveries are queued, as in kamea-wss.
        std::string answer = R"({"accepted":)" + std::to_string(accepted) + "}";
        std::string reply = "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n"
                            "Content-Length: " +
                            std::to_string(answer.size()) + "\r\n\r\n" + answer;
        (void)!::send(c.fd, reply.data(), reply.size(), MSG_NOSIGNAL);
        c.http_in.erase(0, end + 4 + body_size);
    }
}

std::size_t floor_loop::ingest(std::string_view body) {
    ++stats_.requests;
    auto elements = core::split_array_elements(body);
    handoff others;
    if (!peers_.empty()) {
        others.reserve(elements.size());
    }
    for (std::string_view element : elements) {
        ++stats_.telemetries;
        std::string packet = R"(42/devices,["telemetries",)";
        packet += element;
        packet += ']';
        std::string_view device = device_of(element);
        deliver(device, packet);
        if (!peers_.empty()) {
            others.emplace_back(device, std::move(packet));
        }
    }
    for (std::size_t i = 0; i < peers_.size(); ++i) {
        peers_[i]->hand_over(i + 1 == peers_.size() ? std::move(others) : others);
    }
    return elements.size();
}

// Runs on the ingesting loop's thread.
void floor_loop::hand_over(handoff batch) {
    bool was_empty = false;
    {
        std::lock_guard lock(inbox_mutex_);
        was_empty = inbox_.empty();
        if (was_empty) {
            inbox_ = std::move(batch);
        } else {
            std::move(batch.begin(), batch.end(), std::back_inserter(inbox_));
        }
    }
    if (was_empty) { // one wake-up per batch: the loop takes the whole inbox at once
        std::uint64_t one = 1;
        (void)!::write(inbox_fd_, &one, sizeof one);
    }
}

void floor_loop::drain_inbox() {
    std::uint64_t ignored = 0;
    (void)!::read(inbox_fd_, &ignored, sizeof ignored);
    handoff batch;
    {
        std::lock_guard lock(inbox_mutex_);
        batch.swap(inbox_);
    }
    for (const auto& [device, packet] : batch) {
        deliver(device, packet);
    }
}

// This loop's subscribers of `device` get `packet` in one frame built once.
void floor_loop::deliver(std::string_view device, std::string_view packet) {
    auto room = rooms_.find(std::string(device));
    if (room == rooms_.end() || room->second.empty()) {
        return;
    }
    std::string bytes = text_frame(packet);
    if (settings_.path == send_path::epoll) {
        for (int fd : room->second) {
            ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            ++stats_.sends;
            if (n != static_cast<ssize_t>(bytes.size())) {
                ++stats_.send_errors; // a full socket buffer: not expected at these rates
            }
        }
        return;
    }
    auto* f = new frame{std::move(bytes), 0}; // lives until its last send completes
    // The loop holds a reference of its own: when the ring is full, the sends queued so far
    // are submitted and may complete before the rest of the room is queued.
    f->pending = 1;
    for (int fd : room->second) {
        io_uring_sqe* sqe = ::io_uring_get_sqe(&ring_);
        while (sqe == nullptr) {
            submit_and_reap();
            sqe = ::io_uring_get_sqe(&ring_);
        }
        ::io_uring_prep_send(sqe, fd, f->bytes.data(), f->bytes.size(), MSG_NOSIGNAL | MSG_WAITALL);
        ::io_uring_sqe_set_data(sqe, f);
        ++f->pending;
        ++stats_.sends;
    }
    release(f);
}

void floor_loop::release(frame* f) {
    if (--f->pending == 0) {
        delete f;
    }
}

void floor_loop::submit_and_reap() {
    if (::io_uring_sq_ready(&ring_) != 0 && ::io_uring_submit(&ring_) > 0) {
        ++stats_.submissions;
    }
    io_uring_cqe* cqe = nullptr;
    while (::io_uring_peek_cqe(&ring_, &cqe) == 0) {
        auto* f = static_cast<frame*>(::io_uring_cqe_get_data(cqe));
        if (cqe->res != static_cast<int>(f->bytes.size())) {
            ++stats_.send_errors;
        }
        ::io_uring_cqe_seen(&ring_, cqe);
        release(f);
    }
}

// Frames, read with kamea-wss's parser (unmasked in place). False ends the connection: a
// protocol error, or a close frame (the load generator sends neither during a run).
bool floor_loop::on_frames(connection& c, char* data, std::size_t size) {
    bool keep = true;
    auto code = c.frames->feed(data, size, [&](const transport::ws_message& m) {
        if (m.opcode == transport::ws_opcode::close) {
            keep = false;
        } else if (keep && m.opcode == transport::ws_opcode::text) {
            keep = on_text(c, m.payload);
        }
    });
    return code == 0 && keep;
}

// Engine.IO packets: `3` pong (ignored: this server never pings within a run), `4` + a
// Socket.IO packet on `/devices`: `0` connect, `2<id>["telemetries",{...}]` subscribe.
bool floor_loop::on_text(connection& c, std::string_view payload) {
    if (payload.empty() || payload[0] != '4') {
        return true;
    }
    std::string_view packet = payload.substr(1);
    if (packet.starts_with("0/devices")) {
        send_control(c.fd, R"(40/devices,{"sid":"f)" + std::to_string(c.fd) + R"("})");
        return true;
    }
    if (!packet.starts_with("2") || packet.substr(1, nsp_prefix.size()) != nsp_prefix) {
        return true;
    }
    std::string_view rest = packet.substr(1 + nsp_prefix.size());
    auto bracket = rest.find('[');
    std::string_view ack_id = rest.substr(0, bracket);
    std::string_view device = device_of(rest);
    if (device.empty() || !c.device.empty()) {
        return false;
    }
    c.device = device;
    rooms_[c.device].push_back(c.fd);
    ++stats_.subscriptions;
    std::string ack = "43/devices,";
    ack += ack_id;
    ack += R"([{"status":"ok"}])";
    send_control(c.fd, ack);
    return true;
}

void floor_loop::send_control(int fd, std::string_view payload) {
    std::string bytes = text_frame(payload);
    (void)!::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

void floor_loop::close(connection& c) {
    if (!c.device.empty()) {
        auto& members = rooms_[c.device];
        members.erase(std::remove(members.begin(), members.end(), c.fd), members.end());
    }
    if (ring_ready_) {
        submit_and_reap(); // no send may reach a later connection that reuses the descriptor
    }
    int fd = c.fd;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    connections_.erase(fd);
}

} // namespace kamea::floor
