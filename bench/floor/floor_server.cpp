#include "floor/floor_server.hpp"

#include "floor/floor_loop.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace kamea::floor {

counters& counters::operator+=(const counters& o) {
    connections += o.connections;
    subscriptions += o.subscriptions;
    requests += o.requests;
    telemetries += o.telemetries;
    sends += o.sends;
    send_errors += o.send_errors;
    submissions += o.submissions;
    return *this;
}

floor_server::floor_server(settings s) {
    // Blocked before any thread starts, so that every thread inherits the mask and run() takes
    // the signal with sigwait.
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    ::pthread_sigmask(SIG_BLOCK, &mask, nullptr);
    stop_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (stop_fd_ < 0) {
        throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
    }
    // The first loop picks the free ports; the others listen on the same ones (SO_REUSEPORT).
    std::uint16_t port = s.port;
    std::optional<std::uint16_t> internal = s.internal_port;
    for (unsigned i = 0; i < std::max(1U, s.threads); ++i) {
        loops_.push_back(std::make_unique<floor_loop>(s, port, internal, stop_fd_));
        port = loops_.front()->port();
        if (internal) {
            internal = loops_.front()->internal_port();
        }
    }
    port_ = loops_.front()->port();
    internal_port_ = loops_.front()->internal_port();
    for (auto& loop : loops_) {
        std::vector<floor_loop*> peers;
        for (auto& other : loops_) {
            if (other != loop) {
                peers.push_back(other.get());
            }
        }
        loop->set_peers(std::move(peers));
    }
}

floor_server::~floor_server() {
    loops_.clear();
    ::close(stop_fd_);
}

void floor_server::run() {
    std::vector<std::thread> threads;
    for (auto& loop : loops_) {
        threads.emplace_back([l = loop.get()] { l->run(); });
    }
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    int sig = 0;
    ::sigwait(&mask, &sig);
    std::uint64_t one = 1;
    (void)!::write(stop_fd_, &one, sizeof one); // stays readable: every loop sees it
    for (auto& t : threads) {
        t.join();
    }
}

counters floor_server::stats() const {
    counters all;
    for (const auto& loop : loops_) {
        all += loop->stats();
    }
    return all;
}

} // namespace kamea::floor
