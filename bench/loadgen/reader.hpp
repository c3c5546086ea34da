#pragma once
// The read path of connected clients: one level-triggered epoll set per worker, whose own
// descriptor the worker's io_context watches.
//
// Why: once connected, a client only receives small frames and answers the odd ping. Through
// Asio each message cost a coroutine resume, an operation object, executor copies and a
// speculative recv that found nothing: as much user CPU as the kernel's receive itself, and
// the load generator's CPU is what limits the fan-out on a 2-core machine (bench/README.md).
// Here a ready socket costs one recv, and one epoll_wait serves every socket ready at once.

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <array>

#include <sys/epoll.h>

namespace kamea::loadgen {

// What the reader calls back; a client registers itself with its socket.
class reader_client {
public:
    virtual void on_readable() = 0;
    virtual void on_writable() = 0;

protected:
    ~reader_client() = default;
};

class reader {
public:
    explicit reader(boost::asio::io_context& ctx);
    ~reader();
    reader(const reader&) = delete;
    reader& operator=(const reader&) = delete;

    // False if the kernel refused (the caller ends the client).
    bool add(int fd, reader_client& c);
    // Also wait for room to write (a reply the socket could not take at once), or stop that.
    void want_write(int fd, reader_client& c, bool on);
    // No callback for `fd` follows (closing it does the same: the set holds no duplicate).
    void remove(int fd);

private:
    void wait();
    void dispatch();

    int epoll_fd_;
    boost::asio::posix::stream_descriptor watch_;
    std::array<epoll_event, 512> events_{};
};

} // namespace kamea::loadgen
