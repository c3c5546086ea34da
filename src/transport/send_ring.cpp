#include "transport/send_ring.hpp"

#include <boost/asio/post.hpp>

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

namespace kamea::transport {

namespace asio = boost::asio;

namespace {
// Tickets above this mark cancel requests, whose completions carry no target.
constexpr std::uint64_t cancel_tag = std::uint64_t{1} << 63;
} // namespace

std::unique_ptr<send_ring> send_ring::create(asio::io_context& ctx, unsigned entries) {
    int efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (efd < 0) {
        return nullptr;
    }
    std::unique_ptr<send_ring> r(new send_ring(ctx, efd));
    // Completions beyond the CQ ring are kept by the kernel (IORING_FEAT_NODROP), so the ring
    // size only bounds how many sends go in one submission.
    if (::io_uring_queue_init(entries, &r->ring_, 0) != 0) {
        r->ring_.ring_fd = -1;
        return nullptr;
    }
    // Every completion signals, not only io-wq's (the _async variant): a send that waited for
    // room is retried by the kernel's poll in task work on this thread, not by an io-wq
    // worker, so with _async its completion went unseen until some other send was reaped
    // (a client that stalled and read again got nothing more while its shard was quiet).
    if (::io_uring_register_eventfd(&r->ring_, efd) != 0) {
        return nullptr;
    }
    r->watch_async_completions();
    return r;
}

send_ring::send_ring(asio::io_context& ctx, int event_fd) : completions_(ctx, event_fd) {
    ring_.ring_fd = -1;
}

send_ring::~send_ring() {
    *alive_ = false;
    boost::system::error_code ignored;
    completions_.close(ignored);
    if (ring_.ring_fd >= 0) {
        ::io_uring_queue_exit(&ring_); // the kernel cancels what is still in flight
    }
    targets_.clear(); // destroys whatever is still waiting for a completion
}

io_uring_sqe* send_ring::next_sqe() {
    io_uring_sqe* sqe = ::io_uring_get_sqe(&ring_);
    while (sqe == nullptr) { // a submission queue full of sends: hand them over first
        int n = ::io_uring_submit(&ring_);
        if (n > 0) {
            unsubmitted_ -= static_cast<std::size_t>(n);
            submissions_.fetch_add(1, std::memory_order_relaxed);
        } else if (!reaping_) { // the kernel is short of room for completions: make some
            reaping_ = true;
            reap();
            reaping_ = false;
        }
        sqe = ::io_uring_get_sqe(&ring_);
    }
    return sqe;
}

std::uint32_t send_ring::queue(int fd, const msghdr* msg, std::shared_ptr<send_target> target) {
    std::uint32_t ticket;
    if (!free_tickets_.empty()) {
        ticket = free_tickets_.back();
        free_tickets_.pop_back();
        targets_[ticket] = std::move(target);
    } else {
        ticket = static_cast<std::uint32_t>(targets_.size());
        targets_.push_back(std::move(target));
    }
    io_uring_sqe* sqe = next_sqe();
    // MSG_NOSIGNAL: a peer gone is an error result, not SIGPIPE. MSG_WAITALL: the kernel
    // finishes a partial send itself rather than completing early.
    if (msg->msg_iovlen == 1) {
        ::io_uring_prep_send(sqe, fd, msg->msg_iov[0].iov_base, msg->msg_iov[0].iov_len, MSG_NOSIGNAL | MSG_WAITALL);
    } else {
        ::io_uring_prep_sendmsg(sqe, fd, msg, MSG_NOSIGNAL | MSG_WAITALL);
    }
    ::io_uring_sqe_set_data64(sqe, ticket);
    ++unsubmitted_;
    ++queued_sends_;
    // A send queued outside a flush turn (e.g. from a completion handler) still goes out
    // this turn: the flush task submits at its end, and this post covers everyone else.
    if (!submit_posted_) {
        submit_posted_ = true;
        asio::post(completions_.get_executor(), [this, alive = alive_] {
            if (*alive) {
                submit_posted_ = false;
                submit_and_reap();
            }
        });
    }
    return ticket;
}

void send_ring::cancel(std::uint32_t ticket) {
    if (ticket >= targets_.size() || !targets_[ticket]) {
        return;
    }
    if (unsubmitted_ != 0) {
        submit_and_reap(); // the send must be known to the kernel before it can be cancelled
        if (!targets_[ticket]) {
            return; // it completed meanwhile
        }
    }
    io_uring_sqe* sqe = next_sqe();
    ::io_uring_prep_cancel64(sqe, ticket, 0);
    ::io_uring_sqe_set_data64(sqe, cancel_tag | ticket);
    ++unsubmitted_;
    submit_and_reap();
}

void send_ring::submit_and_reap() {
    if (reaping_) {
        return; // called from a completion: the loop below picks up what it queued
    }
    reaping_ = true;
    sends_.store(queued_sends_, std::memory_order_relaxed); // one store per turn, not per send
    while (unsubmitted_ != 0) {
        int n = ::io_uring_submit(&ring_);
        if (n < 0 && n != -EINTR && n != -EAGAIN && n != -EBUSY) {
            break; // cannot happen with a valid ring; the completions below still flow
        }
        if (n > 0) {
            unsubmitted_ -= static_cast<std::size_t>(n);
            submissions_.fetch_add(1, std::memory_order_relaxed);
        }
        reap(); // completions may queue further sends: loop until none is left
    }
    reaping_ = false;
}

void send_ring::reap() {
    io_uring_cqe* cqe = nullptr;
    while (::io_uring_peek_cqe(&ring_, &cqe) == 0) {
        std::uint64_t data = ::io_uring_cqe_get_data64(cqe);
        int result = cqe->res;
        ::io_uring_cqe_seen(&ring_, cqe);
        if ((data & cancel_tag) != 0) {
            continue;
        }
        auto ticket = static_cast<std::uint32_t>(data);
        auto target = std::move(targets_[ticket]);
        free_tickets_.push_back(ticket);
        target->on_sent(result);
    }
}

// Sends that waited for buffer space complete while the loop sleeps: the eventfd says so.
void send_ring::watch_async_completions() {
    completions_.async_wait(asio::posix::stream_descriptor::wait_read,
                            [this, alive = alive_](const boost::system::error_code& ec) {
                                if (!*alive || ec) {
                                    return;
                                }
                                boost::system::error_code ignored;
                                completions_.read_some(asio::buffer(&eventfd_value_, sizeof eventfd_value_), ignored);
                                reaping_ = true;
                                reap();
                                reaping_ = false;
                                submit_and_reap(); // sends queued by those completions
                                watch_async_completions();
                            });
}

} // namespace kamea::transport
