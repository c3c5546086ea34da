#pragma once
// One rabbitmq-c connection, owned by one bus thread: opened (TCP or TLS), logged in with a
// heartbeat, channel 1 open. Errors are thrown as amqp_failure, whose text never holds a
// password. Also the poll-based wait the threads share.

#include "bus/amqp_bus.hpp"

#include <amqp.h>

#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>

namespace kamea::bus {

struct amqp_failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Lets another thread cut a connection that its own thread is blocked on (a send to a frozen
// broker): shutdown() of the socket under a lock, so the fd cannot be reused meanwhile.
class socket_kicker {
public:
    void attach(int fd) {
        std::lock_guard lock(mutex_);
        fd_ = fd;
    }
    void detach() {
        std::lock_guard lock(mutex_);
        fd_ = -1;
    }
    void kick();

private:
    std::mutex mutex_;
    int fd_ = -1;
};

class amqp_connection {
public:
    static constexpr amqp_channel_t channel = 1;

    amqp_connection(const std::string& url, const amqp_options& options, socket_kicker& kicker);
    ~amqp_connection();
    amqp_connection(const amqp_connection&) = delete;
    amqp_connection& operator=(const amqp_connection&) = delete;

    amqp_connection_state_t state() const { return state_; }
    int fd() const { return amqp_get_sockfd(state_); }
    // Frames already read, to be handled before polling the socket again.
    bool buffered() const { return amqp_frames_enqueued(state_) || amqp_data_in_buffer(state_); }
    // connection.close, waiting at most `timeout` for close-ok.
    void close(std::chrono::milliseconds timeout);

    // Throws amqp_failure for a failed call (`what` names it).
    void check(amqp_rpc_reply_t reply, const char* what) const;
    static void check(int status, const char* what);

private:
    amqp_connection_state_t state_;
    socket_kicker& kicker_;
    bool closed_ = false;
};

// Polls the connection's socket and `wake_fd` up to `timeout`. Returns true when the socket
// is readable (or has buffered frames).
bool wait_readable(const amqp_connection& c, int wake_fd, std::chrono::milliseconds timeout);

// A header value as an int64, if it is an integer.
bool table_int(const amqp_table_t& table, const char* key, std::int64_t& out);

inline amqp_bytes_t bytes_of(const std::string& s) {
    return {s.size(), const_cast<char*>(s.data())};
}
inline std::string string_of(amqp_bytes_t b) {
    return {static_cast<const char*>(b.bytes), b.len};
}

} // namespace kamea::bus
