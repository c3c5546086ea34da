#include "bus/amqp_connection.hpp"

#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <filesystem>

namespace kamea::bus {

namespace {

// Bounds every blocking step of a connection attempt: a broker that accepts TCP and then
// says nothing (frozen) must not hold a bus thread.
constexpr std::chrono::seconds setup_timeout{5};
constexpr const char* system_ca_bundle = "/etc/ssl/certs/ca-certificates.crt"; // Debian's

timeval to_timeval(std::chrono::milliseconds d) {
    return {static_cast<time_t>(d.count() / 1000), static_cast<suseconds_t>((d.count() % 1000) * 1000)};
}

std::string server_error(const amqp_rpc_reply_t& reply) {
    if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        const auto* m = static_cast<const amqp_connection_close_t*>(reply.reply.decoded);
        return "connection closed by the broker: " + std::to_string(m->reply_code) + " " + string_of(m->reply_text);
    }
    if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        const auto* m = static_cast<const amqp_channel_close_t*>(reply.reply.decoded);
        return "channel closed by the broker: " + std::to_string(m->reply_code) + " " + string_of(m->reply_text);
    }
    return "unexpected method from the broker";
}

amqp_table_entry_t flag(const char* name) {
    amqp_table_entry_t e{};
    e.key = amqp_cstring_bytes(name);
    e.value.kind = AMQP_FIELD_KIND_BOOLEAN;
    e.value.value.boolean = 1;
    return e;
}

} // namespace

void socket_kicker::kick() {
    std::lock_guard lock(mutex_);
    if (fd_ >= 0) {
        ::shutdown(fd_, SHUT_RDWR);
    }
}

amqp_connection::amqp_connection(const std::string& url, const amqp_options& options, socket_kicker& kicker)
    : state_(amqp_new_connection()), kicker_(kicker) {
    if (state_ == nullptr) {
        throw amqp_failure("out of memory");
    }
    try {
        std::string buffer = url; // amqp_parse_url points into it
        amqp_connection_info info{};
        if (amqp_parse_url(buffer.data(), &info) != AMQP_STATUS_OK) {
            throw amqp_failure("bad URL");
        }
        amqp_socket_t* socket = nullptr;
        if (info.ssl) {
            socket = amqp_ssl_socket_new(state_);
            if (socket == nullptr) {
                throw amqp_failure("cannot create a TLS socket");
            }
            std::string ca = options.ca_file;
            if (ca.empty() && std::filesystem::exists(system_ca_bundle)) {
                ca = system_ca_bundle;
            }
            if (!ca.empty()) {
                check(amqp_ssl_socket_set_cacert(socket, ca.c_str()), "loading the CA file");
            }
            if (!options.cert_file.empty()) {
                check(amqp_ssl_socket_set_key(socket, options.cert_file.c_str(), options.key_file.c_str()),
                      "loading the client certificate");
            }
            amqp_ssl_socket_set_verify_peer(socket, 1);
            amqp_ssl_socket_set_verify_hostname(socket, 1);
        } else {
            socket = amqp_tcp_socket_new(state_);
            if (socket == nullptr) {
                throw amqp_failure("cannot create a socket");
            }
        }
        auto timeout = to_timeval(setup_timeout);
        check(amqp_set_handshake_timeout(state_, &timeout), "setting the handshake timeout");
        check(amqp_set_rpc_timeout(state_, &timeout), "setting the RPC timeout");
        check(amqp_socket_open_noblock(socket, info.host, info.port, &timeout), "connecting");
        kicker_.attach(amqp_get_sockfd(state_));

        amqp_table_entry_t caps[] = {flag("publisher_confirms"), flag("consumer_cancel_notify"),
                                     flag("connection.blocked"), flag("basic.nack"),
                                     flag("authentication_failure_close")};
        amqp_table_entry_t props[2]{};
        props[0].key = amqp_cstring_bytes("capabilities");
        props[0].value.kind = AMQP_FIELD_KIND_TABLE;
        props[0].value.value.table = {static_cast<int>(std::size(caps)), caps};
        props[1].key = amqp_cstring_bytes("connection_name");
        props[1].value.kind = AMQP_FIELD_KIND_UTF8;
        props[1].value.value.bytes = amqp_cstring_bytes("kamea-wss");
        amqp_table_t properties{2, props};
        // "amqp://host/" parses as the empty vhost; everyone means the default one.
        const char* vhost = (info.vhost == nullptr || *info.vhost == '\0') ? "/" : info.vhost;
        check(amqp_login_with_properties(state_, vhost, 0, 131072, static_cast<int>(options.heartbeat.count()),
                                         &properties, AMQP_SASL_METHOD_PLAIN, info.user, info.password),
              "logging in");
        amqp_channel_open(state_, channel);
        check(amqp_get_rpc_reply(state_), "opening the channel");
    } catch (...) {
        kicker_.detach();
        amqp_destroy_connection(state_);
        throw;
    }
}

amqp_connection::~amqp_connection() {
    kicker_.detach();
    amqp_destroy_connection(state_);
}

void amqp_connection::close(std::chrono::milliseconds timeout) {
    if (closed_) {
        return;
    }
    closed_ = true;
    auto tv = to_timeval(std::max(timeout, std::chrono::milliseconds(1)));
    amqp_set_rpc_timeout(state_, &tv);
    amqp_connection_close(state_, AMQP_REPLY_SUCCESS);
}

void amqp_connection::check(amqp_rpc_reply_t reply, const char* what) const {
    switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        return;
    case AMQP_RESPONSE_NONE:
        throw amqp_failure(std::string(what) + ": no reply");
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        throw amqp_failure(std::string(what) + ": " + amqp_error_string2(reply.library_error));
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        throw amqp_failure(std::string(what) + ": " + server_error(reply));
    }
    throw amqp_failure(std::string(what) + ": failed");
}

void amqp_connection::check(int status, const char* what) {
    if (status != AMQP_STATUS_OK) {
        throw amqp_failure(std::string(what) + ": " + amqp_error_string2(status));
    }
}

bool wait_readable(const amqp_connection& c, int wake_fd, std::chrono::milliseconds timeout) {
    if (c.buffered()) {
        return true;
    }
    pollfd fds[2] = {{c.fd(), POLLIN, 0}, {wake_fd, POLLIN, 0}};
    int n = ::poll(fds, 2, static_cast<int>(std::max<long long>(timeout.count(), 0)));
    if (n < 0 && errno != EINTR) {
        throw amqp_failure("poll failed");
    }
    return n > 0 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
}

bool table_int(const amqp_table_t& table, const char* key, std::int64_t& out) {
    std::string_view wanted(key);
    for (int i = 0; i < table.num_entries; ++i) {
        const auto& e = table.entries[i];
        if (std::string_view(static_cast<const char*>(e.key.bytes), e.key.len) != wanted) {
            continue;
        }
        const auto& v = e.value;
        switch (v.kind) {
        case AMQP_FIELD_KIND_I64:
            out = v.value.i64;
            return true;
        case AMQP_FIELD_KIND_U64:
            out = static_cast<std::int64_t>(v.value.u64);
            return true;
        case AMQP_FIELD_KIND_I32:
            out = v.value.i32;
            return true;
        case AMQP_FIELD_KIND_U32:
            out = v.value.u32;
            return true;
        case AMQP_FIELD_KIND_TIMESTAMP:
            out = static_cast<std::int64_t>(v.value.u64);
            return true;
        default:
            return false;
        }
    }
    return false;
}

} // namespace kamea::bus
