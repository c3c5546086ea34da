#pragma once
// The sends of one loop turn, handed to the kernel in one io_uring submission.
//
// Why: a fan-out writes one small frame to each of thousands of sockets per turn, and per-socket
// coalescing almost never happens below saturation. What pays is fewer syscalls across sockets:
// one io_uring_enter for the whole turn instead of one sendmsg per socket (docs/performance.md,
// "Where the time goes"). Shard-local, like everything a shard owns.
//
// Most sends complete inside the submission and are reaped right after it. A send the kernel
// has to wait for (full socket buffer) completes later: the ring signals an eventfd, which the
// shard's event loop watches (it signals for every completion: the ones reaped at once cost
// one eventfd read per turn). A target is kept alive while its send is in flight.

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <liburing.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <sys/socket.h>
#include <vector>

namespace kamea::transport {

// What a send completes to. `result` is the byte count or -errno, as io_uring reports it.
class send_target {
public:
    virtual void on_sent(int result) = 0;

protected:
    ~send_target() = default;
};

class send_ring {
public:
    // nullptr when the kernel refuses io_uring (old kernel, seccomp, io_uring_disabled): the
    // caller then writes through Asio, one send per socket.
    static std::unique_ptr<send_ring> create(boost::asio::io_context& ctx, unsigned entries);
    ~send_ring();
    send_ring(const send_ring&) = delete;
    send_ring& operator=(const send_ring&) = delete;

    // Queues a send of `msg` (which must stay valid until on_sent) on `fd`. Returns a ticket for
    // cancel(). Nothing reaches the kernel before submit().
    std::uint32_t queue(int fd, const msghdr* msg, std::shared_ptr<send_target> target);
    // Ends a queued or in-flight send early (its on_sent gets -ECANCELED), e.g. before resetting
    // a connection whose peer stopped reading.
    void cancel(std::uint32_t ticket);
    // Submits what is queued and delivers every completion available, until none is left.
    void submit_and_reap();

    // For /metrics (read from another thread).
    std::uint64_t submissions() const { return submissions_.load(std::memory_order_relaxed); }
    std::uint64_t sends() const { return sends_.load(std::memory_order_relaxed); }

private:
    send_ring(boost::asio::io_context& ctx, int event_fd);
    io_uring_sqe* next_sqe();
    void reap();
    void watch_async_completions();

    io_uring ring_{};
    boost::asio::posix::stream_descriptor completions_; // eventfd: completions after a wait
    std::uint64_t eventfd_value_ = 0;
    std::size_t unsubmitted_ = 0;
    // Targets of sends in flight, by ticket (the sqe's user data); free tickets are reused.
    std::vector<std::shared_ptr<send_target>> targets_;
    std::vector<std::uint32_t> free_tickets_;
    std::atomic<std::uint64_t> submissions_{0};
    std::uint64_t queued_sends_ = 0; // this thread's count, published below
    std::atomic<std::uint64_t> sends_{0};
    bool reaping_ = false;
    bool submit_posted_ = false;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

} // namespace kamea::transport
