#include "loadgen/reader.hpp"

#include <stdexcept>
#include <string>

#include <cerrno>
#include <cstring>
#include <unistd.h>

namespace kamea::loadgen {

namespace {

int make_epoll() {
    int fd = ::epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) {
        throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
    }
    return fd;
}

} // namespace

reader::reader(boost::asio::io_context& ctx) : epoll_fd_(make_epoll()), watch_(ctx, epoll_fd_) {
    wait();
}

reader::~reader() {
    boost::system::error_code ignored;
    watch_.close(ignored); // closes epoll_fd_
}

bool reader::add(int fd, reader_client& c) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.ptr = &c;
    return ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) == 0;
}

void reader::want_write(int fd, reader_client& c, bool on) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0U);
    ev.data.ptr = &c;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev);
}

void reader::remove(int fd) {
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
}

void reader::wait() {
    watch_.async_wait(boost::asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& ec) {
        if (ec) {
            return; // the worker is stopping
        }
        dispatch();
        wait();
    });
}

// Every socket ready now. A client removed by an earlier callback of the same batch is still
// alive (it is destroyed only after its coroutine resumes, later in the loop) and ignores the
// call, as it has ended.
void reader::dispatch() {
    // Asio watches the epoll descriptor edge-triggered: a full batch may leave sockets ready
    // without a new edge, so read batches until one is not full.
    int n = 0;
    do {
        n = ::epoll_wait(epoll_fd_, events_.data(), static_cast<int>(events_.size()), 0);
        for (int i = 0; i < n; ++i) {
            auto& e = events_[static_cast<std::size_t>(i)];
            auto& c = *static_cast<reader_client*>(e.data.ptr);
            if ((e.events & EPOLLOUT) != 0) {
                c.on_writable();
            }
            if ((e.events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) {
                c.on_readable();
            }
        }
    } while (n == static_cast<int>(events_.size()));
}

} // namespace kamea::loadgen
