// Connection state recovery, one shard's part (docs/recovery.md): a socket lost with its
// transport leaves a session behind that keeps its pairs bound and their telemetries kept; a
// CONNECT naming that session gets the socket back, after its token was checked again for
// every subscription, with what it missed sent before the CONNECT reply.
#include "app/telemetry/subscriptions.hpp"

#include "app/telemetry/telemetry.hpp"
#include "core/log.hpp"
#include "core/random_id.hpp"

#include <boost/asio/post.hpp>

namespace kamea::app::telemetry {

using authorization::verdict;
using clock = std::chrono::steady_clock;

namespace {

// A CONNECT waits this long at most for this shard's fan-out to reach the client's offset
// (the client had it from another shard, whose fan-out may run a little ahead).
constexpr unsigned max_catch_up_tries = 1000;
constexpr auto catch_up_pause = std::chrono::milliseconds(1);

// What the API said about a recovered session's subscriptions, with the socket's token.
struct recheck_job {
    std::size_t left = 0;
    std::optional<std::pair<core::device_key, std::string>> denied;
    std::optional<std::string> error;
};

} // namespace

void subscriptions::connect(socketio::socket& s, const boost::json::object& auth,
                            const socketio::connect_reply& reply) {
    const auto& rc = options_.recovery;
    if (!rc.on()) {
        reply.accept();
        return;
    }
    auto& st = state_of(s);
    st.pid = core::random_id();
    const auto* pid = auth.if_contains("pid");
    if (pid == nullptr || !pid->is_string()) {
        reply.accept({{}, st.pid, {}});
        return;
    }
    auto session = rc.sessions->take(std::string(pid->as_string()), clock::now());
    std::optional<std::uint64_t> after = 0; // no offset: the client had nothing yet
    if (const auto* offset = auth.if_contains("offset"); offset != nullptr) {
        after = offset->is_string() ? rc.offsets->decode(offset->as_string()) : std::nullopt;
    }
    if (!session || !after) {
        rc.stats->unknown.fetch_add(1, std::memory_order_relaxed);
        accept_fresh(s, reply);
        return;
    }
    auto held = std::make_shared<recovery::recoverable_session>(std::move(*session));
    if (held->subscriptions.empty()) {
        recover(s.shared_from_this(), held, *after, reply, 0);
        return;
    }
    // Checked again with the token of this CONNECT before anything is replayed: a user
    // revoked meanwhile gets nothing back.
    auto job = std::make_shared<recheck_job>();
    job->left = held->subscriptions.size();
    for (const auto& sub : held->subscriptions) {
        authz_.check(ex_, {st.token, sub.key.tenant_id, sub.key.device_id},
                     [this, alive = alive_, weak = s.weak_from_this(), key = sub.key, job, held, after = *after,
                      reply](const authorization::result& r) {
                         auto sock = weak.lock();
                         if (!*alive || !sock) {
                             return; // the session closed meanwhile; `held` lets go of its holds
                         }
                         if (r.outcome == verdict::denied && !job->denied) {
                             job->denied.emplace(key, r.message);
                         } else if (r.outcome == verdict::error && !job->error) {
                             job->error = r.message;
                         }
                         if (--job->left > 0) {
                             return;
                         }
                         auto& stats = *options_.recovery.stats;
                         if (job->denied) {
                             // A denial as for a subscription (contract section 4 step 3): the
                             // socket joins, is told, and is cut off.
                             stats.denied.fetch_add(1, std::memory_order_relaxed);
                             accept_fresh(*sock, reply);
                             deny(*sock, job->denied->first, job->denied->second, std::nullopt);
                         } else if (job->error) {
                             stats.error.fetch_add(1, std::memory_order_relaxed);
                             core::log::warn("recovery_authorization_error",
                                             {{"conn", sock->session().number()}, {"message", *job->error}});
                             accept_fresh(*sock, reply);
                         } else {
                             recover(sock, held, after, reply, 0);
                         }
                     });
    }
}

// Not recovered: a new socket with a new session id; the client resubscribes in its
// `connect` handler, as after any reconnection.
void subscriptions::accept_fresh(socketio::socket& s, const socketio::connect_reply& reply) {
    reply.accept({{}, state_of(s).pid, {}});
}

void subscriptions::recover(const std::shared_ptr<socketio::socket>& s,
                            const std::shared_ptr<recovery::recoverable_session>& session, std::uint64_t after,
                            const socketio::connect_reply& reply, unsigned tries) {
    const auto& rc = options_.recovery;
    auto upto = last_.position();
    if (upto < after) {
        if (tries >= max_catch_up_tries) {
            rc.stats->gap.fetch_add(1, std::memory_order_relaxed);
            accept_fresh(*s, reply);
            return;
        }
        auto timer = std::make_shared<boost::asio::steady_timer>(ex_, catch_up_pause);
        timer->async_wait([this, alive = alive_, timer, weak = std::weak_ptr(s), session, after, reply,
                           tries](boost::system::error_code ec) {
            if (auto sock = weak.lock(); !ec && *alive && sock) {
                recover(sock, session, after, reply, tries + 1);
            }
        });
        return;
    }
    std::vector<recovery::replay_buffer::wanted> rooms;
    rooms.reserve(session->subscriptions.size());
    for (const auto& sub : session->subscriptions) {
        rooms.push_back({room_of(sub.key), std::max(after, sub.since)});
    }
    auto missed = rc.replay->missed(rooms, upto);
    if (!missed) {
        rc.stats->gap.fetch_add(1, std::memory_order_relaxed);
        core::log::info("recovery_gap", {{"conn", s->session().number()}, {"subscriptions", rooms.size()}});
        accept_fresh(*s, reply);
        return;
    }
    auto& st = state_of(*s);
    st.pid = session->pid;
    rc.stats->recovered.fetch_add(1, std::memory_order_relaxed);
    rc.stats->replayed.fetch_add(missed->size(), std::memory_order_relaxed);
    core::log::debug("socket_recovered",
                     {{"conn", s->session().number()}, {"subscriptions", rooms.size()}, {"replayed", missed->size()}});
    // Missed telemetries, the CONNECT reply, then the rooms, in one step on this shard: the
    // next telemetry of a room is the first after `upto`, live.
    reply.accept({session->sid, session->pid, std::move(*missed)});
    for (const auto& sub : session->subscriptions) {
        add(*s, sub.key, std::nullopt, false);
    }
} // `session` goes: its holds are released on the shard that kept them

void subscriptions::persist(socketio::socket& s) {
    auto& st = state_of(s);
    const auto& rc = options_.recovery;
    auto now = clock::now();
    recovery::recoverable_session session{st.pid, s.id(), {}, now + rc.window, nullptr};
    std::vector<core::device_key> keys;
    for (const auto& sub : st.subscriptions) {
        session.subscriptions.push_back({sub.key, sub.since});
        keys.push_back(sub.key);
        auto room = room_of(sub.key);
        s.leave(room);
        last_.unwatch(room, now);
        // Its bus interest and its replay-buffer hold stay, the session's now.
    }
    session.holds =
        std::make_shared<recovery::holds>([ex = ex_, this, alive = alive_, keys = std::move(keys)]() mutable {
            if (keys.empty()) {
                return;
            }
            boost::asio::post(ex, [this, alive, keys = std::move(keys)] {
                if (*alive) {
                    release_held(keys);
                }
            });
        });
    auto pid = st.pid;
    rc.sessions->put(std::move(session));
    // Its expiry is this shard's to notice (a session recovered meanwhile is not found).
    auto timer = std::make_shared<boost::asio::steady_timer>(ex_, rc.window);
    timer->async_wait([this, alive = alive_, timer, pid](boost::system::error_code ec) {
        if (!ec && *alive) {
            options_.recovery.sessions->expire(pid, clock::now());
        }
    });
}

void subscriptions::release_held(const std::vector<core::device_key>& keys) {
    for (const auto& key : keys) {
        interest_.release(key);
        options_.recovery.replay->untrack(room_of(key));
    }
}

} // namespace kamea::app::telemetry
