// The io_uring send ring on a local socket pair (no network): batching, completions inside the
// submission, completions after a wait (through the eventfd and the io_context), cancellation.
#include "transport/send_ring.hpp"

#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

using namespace kamea::transport;

namespace {

struct recorder final : send_target {
    std::vector<int> results;
    void on_sent(int result) override { results.push_back(result); }
};

struct socket_pair {
    int fd[2] = {-1, -1};
    socket_pair() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fd), 0); }
    ~socket_pair() {
        ::close(fd[0]);
        ::close(fd[1]);
    }
    std::string read_all(std::size_t n) const {
        std::string out(n, '\0');
        std::size_t got = 0;
        while (got < n) {
            ssize_t r = ::read(fd[1], out.data() + got, n - got);
            if (r <= 0) {
                break;
            }
            got += static_cast<std::size_t>(r);
        }
        out.resize(got);
        return out;
    }
};

struct message {
    std::vector<iovec> iov;
    msghdr msg{};
    explicit message(std::vector<std::string>& parts) {
        for (auto& p : parts) {
            iov.push_back({p.data(), p.size()});
        }
        msg.msg_iov = iov.data();
        msg.msg_iovlen = iov.size();
    }
};

class SendRing : public ::testing::Test {
protected:
    void SetUp() override {
        ring = send_ring::create(ctx, 64);
        if (!ring) {
            GTEST_SKIP() << "io_uring is not available here";
        }
    }
    boost::asio::io_context ctx;
    std::unique_ptr<send_ring> ring;
};

} // namespace

TEST_F(SendRing, SendsQueuedInATurnGoInOneSubmissionAndCompleteInOrder) {
    socket_pair sp;
    std::vector<std::string> a{"one "}, b{"two ", "three "}, c{"four"};
    message ma(a), mb(b), mc(c);
    auto target = std::make_shared<recorder>();
    ring->queue(sp.fd[0], &ma.msg, target);
    ring->queue(sp.fd[0], &mb.msg, target);
    ring->queue(sp.fd[0], &mc.msg, target);
    EXPECT_TRUE(target->results.empty()); // nothing reaches the kernel before the submission
    ring->submit_and_reap();
    EXPECT_EQ(target->results, (std::vector<int>{4, 10, 4}));
    EXPECT_EQ(ring->submissions(), 1U);
    EXPECT_EQ(ring->sends(), 3U);
    EXPECT_EQ(sp.read_all(18), "one two three four");
}

TEST_F(SendRing, ASendQueuedOutsideATurnIsSubmittedByTheLoop) {
    socket_pair sp;
    std::vector<std::string> a{"late"};
    message ma(a);
    auto target = std::make_shared<recorder>();
    ring->queue(sp.fd[0], &ma.msg, target);
    ctx.poll(); // the posted submission
    EXPECT_EQ(target->results, (std::vector<int>{4}));
    EXPECT_EQ(sp.read_all(4), "late");
}

TEST_F(SendRing, ASendThatWaitsForRoomCompletesWholeThroughTheEventLoop) {
    socket_pair sp;
    int small = 4096;
    ASSERT_EQ(::setsockopt(sp.fd[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    std::vector<std::string> big{std::string(1 << 20, 'x')};
    message mb(big);
    auto target = std::make_shared<recorder>();
    std::weak_ptr<recorder> weak = target;
    ring->queue(sp.fd[0], &mb.msg, target);
    target.reset(); // the ring keeps it alive while the send is in flight
    ring->submit_and_reap();
    ASSERT_FALSE(weak.expired());
    EXPECT_TRUE(weak.lock()->results.empty()); // the peer has not read: still in flight
    auto keep = weak.lock();
    EXPECT_EQ(sp.read_all(big[0].size()).size(), big[0].size());
    for (int i = 0; i < 200 && keep->results.empty(); ++i) {
        ctx.run_one_for(std::chrono::milliseconds(50)); // the eventfd wakes the loop
    }
    EXPECT_EQ(keep->results, (std::vector<int>{1 << 20}));
}

TEST_F(SendRing, CancelEndsASendInFlight) {
    socket_pair sp;
    int small = 4096;
    ASSERT_EQ(::setsockopt(sp.fd[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    std::vector<std::string> big{std::string(1 << 20, 'y')};
    message mb(big);
    auto target = std::make_shared<recorder>();
    auto ticket = ring->queue(sp.fd[0], &mb.msg, target);
    ring->submit_and_reap();
    ASSERT_TRUE(target->results.empty());
    ring->cancel(ticket);
    ASSERT_EQ(target->results.size(), 1U);
    // Cancelled, or cut short with what the buffer took: never the whole, never a hang.
    EXPECT_TRUE(target->results[0] == -ECANCELED || (target->results[0] >= 0 && target->results[0] < (1 << 20)))
        << target->results[0];
    ring->cancel(ticket); // a ticket already completed is ignored
    EXPECT_EQ(target->results.size(), 1U);
}

TEST_F(SendRing, APeerGoneIsAnErrorResultNotASignal) {
    socket_pair sp;
    ::close(sp.fd[1]);
    sp.fd[1] = ::dup(sp.fd[0]); // keep the destructor's close valid
    ::shutdown(sp.fd[0], SHUT_WR);
    std::vector<std::string> a{"gone"};
    message ma(a);
    auto target = std::make_shared<recorder>();
    ring->queue(sp.fd[0], &ma.msg, target);
    ring->submit_and_reap();
    ASSERT_EQ(target->results.size(), 1U);
    EXPECT_EQ(target->results[0], -EPIPE);
}
