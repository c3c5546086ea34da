#include "transport/websocket_connection.hpp"

#include "core/base64.hpp"
#include "core/log.hpp"
#include "engineio/websocket_inbound.hpp"
#include "transport/linger.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace kamea::transport {

namespace asio = boost::asio;

namespace {

std::string control_frame(std::uint8_t opcode, std::string_view payload) {
    char header[10];
    auto n = engineio::write_frame_header(header, opcode, payload.size());
    std::string frame(header, n);
    frame += payload;
    return frame;
}

// The shard's flush task: every connection woken since the last turn starts one write.
void run_flush(shard& sh) {
    auto start = loop_load::clock::now();
    // Connections woken during this turn go to the other list; both keep their capacity.
    sh.flush_list.swap(sh.flushing);
    sh.flush_posted = false;
    for (auto& conn : sh.flushing) {
        conn->on_flush_turn();
    }
    sh.flushing.clear();
    if (sh.sends) {
        sh.sends->submit_and_reap(); // one submission for every send queued above
    }
    sh.load.add(start, loop_load::clock::now());
}

} // namespace

websocket_connection::websocket_connection(shard& sh, asio::ip::tcp::socket socket,
                                           std::shared_ptr<engineio::session> session, bool probe, bool base64_binary,
                                           bool one_frame_per_write)
    : shard_(sh), socket_(sh.ctx), session_(std::move(session)), parser_(session_->options().max_payload),
      probe_(probe), base64_binary_(base64_binary), one_frame_per_write_(one_frame_per_write) {
    shard_.busy_connections.fetch_add(1, std::memory_order_relaxed);
    // The same descriptor, moved to the smaller socket type.
    boost::system::error_code ec;
    auto protocol = socket.local_endpoint(ec).protocol();
    auto fd = ec ? -1 : socket.release(ec);
    if (fd >= 0) {
        socket_.assign(protocol, fd, ec);
        if (ec) {
            ::close(fd);
        }
    }
    // On failure socket_ stays closed: start()'s first write fails and the connection ends.
}

websocket_connection::~websocket_connection() {
    if (probe_) {
        session_->abort_upgrade(this);
    } else {
        session_->detach_websocket(this);
    }
    boost::system::error_code ignored;
    socket_.close(ignored);
    shard_.busy_connections.fetch_sub(1, std::memory_order_relaxed);
}

void websocket_connection::start(std::string handshake_response, std::string leftover) {
    if (!probe_) {
        session_->attach_websocket(this);
    }
    writing_ = true;
    auto& response = rare().sending_control.emplace_back(std::move(handshake_response));
    asio::async_write(socket_, asio::buffer(response),
                      [self = shared_from_this(), leftover = std::move(leftover)](const boost::system::error_code& ec,
                                                                                  std::size_t) mutable {
                          self->writing_ = false;
                          self->rare_.reset(); // nothing else can be in it yet
                          if (ec) {
                              self->peer_gone_ = true;
                              return; // the destructor detaches from the session
                          }
                          self->started_ = true;
                          if (!self->probe_) {
                              self->session_->open(); // the open packet is the first frame (W1)
                          }
                          if (!leftover.empty()) {
                              if (auto code = self->consume(leftover.data(), leftover.size())) {
                                  self->fail(code);
                              }
                          }
                          self->read_some();
                          self->flush();
                      });
}

void websocket_connection::wake() {
    if (flush_listed_) {
        return;
    }
    flush_listed_ = true;
    shard_.flush_list.push_back(shared_from_this());
    if (!shard_.flush_posted) {
        shard_.flush_posted = true;
        asio::post(shard_.ctx, [&sh = shard_] { run_flush(sh); });
    }
}

// ---- reading ----

void websocket_connection::read_some() {
    if (reading_ || closing_ || peer_gone_) {
        return;
    }
    reading_ = true;
    socket_.async_wait(asio::ip::tcp::socket::wait_read,
                       [self = shared_from_this()](const boost::system::error_code& ec) { self->on_readable(ec); });
}

void websocket_connection::on_readable(const boost::system::error_code& wait_ec) {
    reading_ = false;
    if (closing_ || peer_gone_) {
        return;
    }
    if (wait_ec) {
        peer_gone_ = true;
        wake();
        return;
    }
    // Read and process synchronously: the shard's scratch buffer is free again before any
    // other connection of this shard can run.
    // MSG_DONTWAIT: this read never blocks, whatever mode the socket is in (the send ring
    // and Asio's fallback writes share the socket, and its mode is left to Asio).
    ssize_t n = ::recv(socket_.native_handle(), shard_.read_scratch.data(), shard_.read_scratch.size(), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        read_some();
        return;
    }
    if (n <= 0) { // an error, or the peer closed its side
        peer_gone_ = true;
        wake();
        return;
    }
    if (auto code = consume(shard_.read_scratch.data(), static_cast<std::size_t>(n))) {
        core::log::debug("websocket_protocol_error", {{"conn", session_->number()}, {"code", code}});
        fail(code);
        return;
    }
    read_some();
}

std::uint16_t websocket_connection::consume(char* data, std::size_t size) {
    return parser_.feed(data, size, [this](const ws_message& m) { on_frame(m); });
}

websocket_connection::rare_state& websocket_connection::rare() {
    if (!rare_) {
        rare_ = std::make_unique<rare_state>();
    }
    return *rare_;
}

void websocket_connection::queue_control(std::uint8_t opcode, std::string_view payload) {
    rare().control.push_back(control_frame(opcode, payload));
    wake();
}

void websocket_connection::fail(std::uint16_t code) {
    closing_ = true;
    close_code_ = code;
    wake();
}

void websocket_connection::on_frame(const ws_message& m) {
    if (closing_) {
        return;
    }
    switch (m.opcode) {
    case ws_opcode::ping:
        queue_control(0xa, m.payload); // W7
        return;
    case ws_opcode::pong:
        return;
    case ws_opcode::close:
        // Echo the close (RFC 6455 section 5.5.1), then end.
        fail(m.close_code == 1005 ? 0 : m.close_code);
        return;
    case ws_opcode::text:
    case ws_opcode::binary:
        on_engine_message(m);
        return;
    default:
        return;
    }
}

// Engine.IO decides what the message means (websocket_inbound.hpp); this only acts on it.
void websocket_connection::on_engine_message(const ws_message& m) {
    thread_local std::string scratch; // the shard's: a message is handled before the next is read
    switch (
        engineio::on_websocket_message(*session_, this, probe_, m.payload, m.opcode == ws_opcode::binary, scratch)) {
    case engineio::websocket_step::none:
        return;
    case engineio::websocket_step::reply_probe:
        queue_control(0x1, engineio::probe_reply);
        return;
    case engineio::websocket_step::upgraded:
        probe_ = false; // the session now writes through us (U4)
        wake();
        return;
    case engineio::websocket_step::close:
        fail(0);
        return;
    }
}

// ---- writing ----

bool websocket_connection::ended() const {
    return closing_ || (probe_ && !session_->is_probe(this)) ||
           (!probe_ && (session_->closed() || !session_->is_active(this)));
}

void websocket_connection::flush() {
    if (!probe_ && session_->closed() && session_->reason() == engineio::close_reason::slow_client) {
        // It cannot take what is pending, so no flush and no close frame: reset the
        // connection, which also frees what the kernel still holds for it.
        if (on_ring_) {
            shard_.sends->cancel(ring_ticket_); // completes it now, with -ECANCELED
        }
        boost::system::error_code ignored;
        socket_.set_option(asio::socket_base::linger(true, 0), ignored);
        socket_.close(ignored); // pending operations end with operation_aborted
        peer_gone_ = true;
        return;
    }
    if (!started_ || writing_ || close_sent_) {
        return;
    }
    if (peer_gone_) {
        boost::system::error_code ignored;
        socket_.cancel(ignored); // ends the readable-wait: the connection then goes away
        return;
    }
    // Nothing new (the usual case when a write completes after a fan-out: one message per
    // socket per turn): no queue to take, only the end of the session or link to act on.
    bool packets = !probe_ && session_->is_active(this) && session_->has_queued();
    if (!packets && !has_control()) {
        if (ended()) {
            send_close_frame();
        }
        return;
    }
    if (packets) {
        session_->take_queue(batch_);
    }
    iov_.clear();
    auto add = [this](const std::string& bytes) { iov_.push_back({const_cast<char*>(bytes.data()), bytes.size()}); };
    if (has_control()) {
        rare_->sending_control.swap(rare_->control);
        for (const auto& c : rare_->sending_control) {
            add(c);
        }
    }
    // Binary packets for a base64 client: the frames below point into the converted ones.
    std::vector<std::string>* converted = nullptr;
    if (base64_binary_) {
        for (const auto& p : batch_) {
            if (p->binary) {
                converted = &rare().converted;
                converted->push_back(control_frame(0x1, "b" + core::base64_encode(p->payload())));
            }
        }
    }
    std::size_t queued_bytes = 0;
    std::size_t next_converted = 0;
    for (const auto& p : batch_) {
        queued_bytes += p->bytes.size();
        add(p->binary && converted != nullptr ? (*converted)[next_converted++] : p->bytes);
    }
    write(queued_bytes);
}

void websocket_connection::write(std::size_t queued_bytes) {
    writing_ = true;
    write_queued_ = queued_bytes;
    write_bytes_ = 0;
    for (const auto& v : iov_) {
        write_bytes_ += v.iov_len;
    }
    if (shard_.sends && !one_frame_per_write_) {
        msg_ = {};
        msg_.msg_iov = iov_.data();
        msg_.msg_iovlen = iov_.size();
        on_ring_ = true;
        ring_ticket_ = shard_.sends->queue(socket_.native_handle(), &msg_, shared_from_this());
        return;
    }
    write_through_asio(0);
}

// The write in flight, from byte `skip` on, through Asio: without a send ring, or to finish
// what the ring could not send at once.
void websocket_connection::write_through_asio(std::size_t skip) {
    std::vector<asio::const_buffer> buffers;
    buffers.reserve(iov_.size());
    for (const auto& v : iov_) {
        if (skip >= v.iov_len) {
            skip -= v.iov_len;
            continue;
        }
        buffers.emplace_back(static_cast<const char*>(v.iov_base) + skip, v.iov_len - skip);
        skip = 0;
    }
    if (one_frame_per_write_ && buffers.size() > 1) {
        rare().paced.assign(buffers.begin() + 1, buffers.end());
        buffers.resize(1);
    }
    asio::async_write(socket_, buffers, [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
        self->on_write(ec);
    });
}

void websocket_connection::on_sent(int result) {
    on_ring_ = false;
    if (result >= 0 && static_cast<std::size_t>(result) == write_bytes_) {
        on_write({});
        return;
    }
    if (result >= 0 || result == -EAGAIN || result == -EWOULDBLOCK || result == -EINTR) {
        // The kernel could not take it all without waiting (a non-blocking socket): Asio
        // waits for room and writes the rest.
        write_through_asio(result > 0 ? static_cast<std::size_t>(result) : 0);
        return;
    }
    on_write(boost::system::error_code(-result, boost::system::system_category()));
}

void websocket_connection::on_write(const boost::system::error_code& ec) {
    if (!ec && rare_ && !rare_->paced.empty()) {
        // Conformance pacing: let the peer read this frame on its own before the next one.
        if (!rare_->pace_timer) {
            rare_->pace_timer = std::make_unique<asio::steady_timer>(socket_.get_executor());
        }
        rare_->pace_timer->expires_after(std::chrono::milliseconds(1));
        rare_->pace_timer->async_wait([self = shared_from_this()](const boost::system::error_code&) {
            auto& paced = self->rare_->paced;
            auto next = paced.front();
            paced.erase(paced.begin());
            asio::async_write(self->socket_, asio::buffer(next),
                              [self](const boost::system::error_code& wec, std::size_t) { self->on_write(wec); });
        });
        return;
    }
    writing_ = false;
    session_->on_written(write_queued_);
    if (!ec) {
        observe_latency();
    }
    batch_.clear();
    if (rare_) {
        rare_->paced.clear();
        rare_->sending_control.clear();
        rare_->converted.clear();
    }
    boost::system::error_code ignored;
    if (ec) {
        peer_gone_ = true;
        socket_.cancel(ignored);
        return;
    }
    if (close_sent_) {
        linger();
        return;
    }
    flush(); // whatever was queued during the write
}

// After the close frame (linger.hpp): half-close, then drop what the client still sends until
// it closes too, for at most linger_time and linger_bytes; the last handler to return ends the
// connection.
void websocket_connection::linger() {
    boost::system::error_code ignored;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    socket_.cancel(ignored); // ends the session's readable-wait
    rare().linger_timer = std::make_unique<asio::steady_timer>(socket_.get_executor(), linger_time);
    rare_->linger_timer->async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (!ec) {
            boost::system::error_code e;
            self->socket_.cancel(e); // the client kept sending: give up on it
        }
    });
    drain();
}

void websocket_connection::drain() {
    socket_.async_wait(asio::ip::tcp::socket::wait_read,
                       [self = shared_from_this()](const boost::system::error_code& ec) {
                           if (ec) {
                               self->rare_->linger_timer->cancel();
                               return;
                           }
                           ssize_t n = ::recv(self->socket_.native_handle(), self->shard_.read_scratch.data(),
                                              self->shard_.read_scratch.size(), MSG_DONTWAIT);
                           if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
                               self->drain();
                               return;
                           }
                           if (n <= 0 || (self->rare_->lingered += static_cast<std::size_t>(n)) >= linger_bytes) {
                               self->rare_->linger_timer->cancel(); // the client closed too, or sent too much
                               return;
                           }
                           self->drain();
                       });
}

// E17: a close frame (with the status code of a protocol error, if any), then the end.
void websocket_connection::send_close_frame() {
    close_sent_ = true;
    closing_ = true;
    std::string payload;
    if (close_code_ != 0) {
        payload += static_cast<char>(close_code_ >> 8);
        payload += static_cast<char>(close_code_ & 0xff);
    }
    auto& frame = rare().sending_control.emplace_back(control_frame(0x8, payload));
    iov_.clear();
    iov_.push_back({frame.data(), frame.size()});
    write(0);
}

// One clock read per write, not per packet.
void websocket_connection::observe_latency() {
    std::int64_t now = 0;
    for (const auto& p : batch_) {
        if (p->stamp_ns != 0) {
            if (now == 0) {
                now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
            }
            shard_.ingest_to_write.observe_single_writer(std::chrono::nanoseconds(now - p->stamp_ns));
        }
    }
}

} // namespace kamea::transport
