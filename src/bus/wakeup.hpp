#pragma once
// An eventfd a bus thread polls beside its socket, so that other threads can wake it.

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <system_error>

namespace kamea::bus {

class wakeup {
public:
    wakeup() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
        if (fd_ < 0) {
            throw std::system_error(errno, std::generic_category(), "eventfd");
        }
    }
    ~wakeup() { ::close(fd_); }
    wakeup(const wakeup&) = delete;
    wakeup& operator=(const wakeup&) = delete;

    void signal() {
        std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(fd_, &one, sizeof one);
    }
    void drain() {
        std::uint64_t count = 0;
        [[maybe_unused]] auto n = ::read(fd_, &count, sizeof count);
    }
    int fd() const { return fd_; }

private:
    int fd_;
};

} // namespace kamea::bus
