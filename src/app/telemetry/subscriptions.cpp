#include "app/telemetry/subscriptions.hpp"

#include "app/authorization/token_expiry.hpp"
#include "app/recovery/offset.hpp"
#include "app/telemetry/telemetry.hpp"
#include "core/log.hpp"

#include <boost/json/serialize.hpp>

#include <array>

namespace kamea::app::telemetry {

using authorization::verdict;
using clock = std::chrono::steady_clock;

namespace {

constexpr std::string_view ack_ok = R"({"status":"ok"})";
constexpr std::string_view ack_ok_last = R"({"status":"ok","last":true})";
constexpr std::string_view ack_ok_no_last = R"({"status":"ok","last":false})";

// After a token's expiry its subscriptions are checked again at these delays: a second
// first (the API may allow a token to its last second), then twice more in case the API
// allows for clock skew. A denial at any of them cuts the socket.
constexpr std::array<std::chrono::seconds, 3> expiry_delays{std::chrono::seconds(1), std::chrono::seconds(10),
                                                            std::chrono::seconds(60)};

std::string error_ack(std::string_view error, std::string_view message) {
    return boost::json::serialize(boost::json::object{{"status", "error"}, {"error", error}, {"message", message}});
}

void bad_request(socketio::socket& s, std::string_view event, const std::string& message,
                 std::optional<std::uint64_t> ack_id) {
    s.emit("bad_request", boost::json::serialize(boost::json::object{{"event", event}, {"message", message}}));
    if (ack_id) {
        s.ack(*ack_id, error_ack("bad_request", message));
    }
}

// The first argument of an event, if it is an object.
const boost::json::object* first_object(const socketio::event& e) {
    if (e.all.size() < 2 || !e.all[1].is_object()) {
        return nullptr;
    }
    return &e.all[1].as_object();
}

} // namespace

std::atomic<std::int64_t>& subscription_gauge() {
    static std::atomic<std::int64_t> gauge{0};
    return gauge;
}

socket_state& state_of(socketio::socket& s) {
    return *std::static_pointer_cast<socket_state>(s.data);
}

subscriptions::subscriptions(const boost::asio::any_io_executor& ex, const authorization::authorizer& authz,
                             core::bus& bus, newest_store& newest, std::size_t shard, subscription_options options)
    : ex_(ex), authz_(authz), options_(options), interest_(ex, bus), reauth_timer_(ex), expiry_timer_(ex),
      last_(newest, shard, options.last_value_ttl), last_value_timer_(ex) {
    if (options_.reauth_interval.count() > 0) {
        reauthorize();
    }
}

subscriptions::~subscriptions() {
    *alive_ = false;
    reauth_timer_.cancel();
    expiry_timer_.cancel();
    last_value_timer_.cancel();
}

namespace {

bool same_key(const subscription& sub, const core::device_key& key) {
    return sub.key == key;
}

// Whether an unsubscribe came after subscribe request `request` was made.
bool cancelled(const socket_state& st, const core::device_key& key, std::uint64_t request) {
    if (!st.unsubscribed_at) {
        return false; // never unsubscribed anything
    }
    for (const auto& k : {key, core::device_key{"", key.device_id}}) {
        auto it = st.unsubscribed_at->find(k);
        if (it != st.unsubscribed_at->end() && it->second >= request) {
            return true;
        }
    }
    return false;
}

} // namespace

void subscriptions::subscribe(socketio::socket& s, const socketio::event& e) {
    const auto* payload = first_object(e);
    if (payload == nullptr) {
        bad_request(s, "telemetries", "payload must be an object with deviceId and tenantId", e.ack_id);
        return;
    }
    for (auto field : {"deviceId", "tenantId"}) {
        if (auto why = check_id(payload->if_contains(field), field)) {
            bad_request(s, "telemetries", *why, e.ack_id);
            return;
        }
    }
    bool want_last = false;
    if (const auto* last = payload->if_contains("last"); last != nullptr) {
        if (!last->is_bool()) {
            bad_request(s, "telemetries", "last must be a boolean", e.ack_id);
            return;
        }
        want_last = last->as_bool();
    }
    core::device_key key{std::string(payload->at("tenantId").as_string()),
                         std::string(payload->at("deviceId").as_string())};
    auto& st = state_of(s);
    bool already = std::any_of(st.subscriptions.begin(), st.subscriptions.end(),
                               [&](const subscription& sub) { return same_key(sub, key); });
    if (!already && st.subscriptions.size() + st.pending >= options_.max_per_socket) {
        bad_request(s, "telemetries",
                    "too many subscriptions (at most " + std::to_string(options_.max_per_socket) + ")", e.ack_id);
        return;
    }
    ++st.pending;
    auto request = ++st.next_request;
    auto ack_id = e.ack_id;
    authz_.check(ex_, {st.token, key.tenant_id, key.device_id},
                 [this, alive = alive_, weak = s.weak_from_this(), key, request, ack_id,
                  want_last](const authorization::result& r) {
                     auto sock = weak.lock();
                     if (!*alive || !sock || !sock->connected()) {
                         return; // the client left meanwhile
                     }
                     auto& state = state_of(*sock);
                     --state.pending;
                     if (r.outcome == verdict::denied) {
                         deny(*sock, key, r.message, ack_id);
                         return;
                     }
                     if (r.outcome == verdict::error) {
                         core::log::warn("authorization_error", {{"conn", sock->session().number()},
                                                                 {"deviceId", key.device_id},
                                                                 {"tenantId", key.tenant_id},
                                                                 {"message", r.message}});
                         sock->emit("internal_server_error",
                                    boost::json::serialize(boost::json::object{{"message", r.message}}));
                         if (ack_id) {
                             sock->ack(*ack_id, error_ack("internal_server_error", r.message));
                         }
                         return;
                     }
                     if (cancelled(state, key, request)) {
                         if (ack_id) {
                             sock->ack(*ack_id, ack_ok); // unsubscribed meanwhile: the later wish wins
                         }
                         return;
                     }
                     add(*sock, key, ack_id, want_last);
                 });
}

// An authorized subscription: the room at once, the ack once the bus has the pair (so a
// telemetry published after the ack is delivered, whichever instance it was posted to). With
// `want_last` the room is joined only at the ack, right after the newest value is queued: on
// the shard nothing can come between the two, so the socket misses nothing after that value
// and gets nothing twice.
void subscriptions::add(socketio::socket& s, const core::device_key& key, std::optional<std::uint64_t> ack_id,
                        bool want_last) {
    auto& state = state_of(s);
    auto it = std::find_if(state.subscriptions.begin(), state.subscriptions.end(),
                           [&](const subscription& sub) { return same_key(sub, key); });
    if (it != state.subscriptions.end()) {
        it->authorized_at = clock::now();
        if (ack_id) {
            // Subscribing twice is harmless; the socket has had every value since the first.
            s.ack(*ack_id, want_last ? ack_ok_no_last : ack_ok);
        }
        return;
    }
    state.subscriptions.push_back({key, clock::now(), false, last_.position()});
    count(key, +1);
    auto room = room_of(key);
    if (options_.recovery.on()) {
        options_.recovery.replay->track(room);
    }
    if (!want_last) {
        s.join(room);
    }
    subscribed_[&s] = s.weak_from_this();
    if (state.token_expires && !state.expiry_scheduled) {
        schedule_expiry(s, 0);
    }
    if (auto generation = last_.watch(room, key); generation && options_.last_value_ttl.count() > 0) {
        // The entry's own hold on the pair, so the bus keeps it for the ttl after the last
        // subscriber and the value stays the newest.
        interest_.acquire(key, [this, alive = alive_, room, g = *generation](core::watch_result result) {
            if (*alive && result == core::watch_result::refused) {
                last_.refuse(room, g);
            }
        });
    }
    interest_.acquire(key, [this, alive = alive_, weak = s.weak_from_this(), key, room, ack_id,
                            want_last](core::watch_result result) {
        auto sock = weak.lock();
        if (!*alive || !sock || !sock->connected()) {
            return; // forget() released it
        }
        auto& st = state_of(*sock);
        if (result != core::watch_result::refused) {
            bool held = std::any_of(st.subscriptions.begin(), st.subscriptions.end(),
                                    [&](const subscription& sub) { return same_key(sub, key); });
            if (!want_last || !held) {
                if (ack_id) {
                    sock->ack(*ack_id, want_last ? ack_ok_no_last : ack_ok);
                }
                return;
            }
            auto newest = last_.newest(room);
            if (ack_id) {
                sock->ack(*ack_id, newest.packet ? ack_ok_last : ack_ok_no_last);
            }
            if (newest.send) {
                sock->send(options_.recovery.on() ? recovery::without_offset(newest.packet) : newest.packet);
            }
            sock->join(room);
            for (auto& sub : st.subscriptions) {
                if (same_key(sub, key)) {
                    sub.since = last_.position();
                }
            }
            return;
        }
        // The bus does not hold the pair for us: neither does the socket.
        auto removed = std::erase_if(st.subscriptions, [&](const subscription& sub) { return same_key(sub, key); });
        if (removed > 0) {
            count(key, -1);
        }
        sock->leave(room);
        if (removed > 0) {
            last_.unwatch(room, clock::now());
            arm_last_value_timer();
            if (options_.recovery.on()) {
                options_.recovery.replay->untrack(room);
            }
        }
        std::string message = "this instance watches too many devices; try again later";
        core::log::warn("bindings_exhausted",
                        {{"conn", sock->session().number()}, {"deviceId", key.device_id}, {"tenantId", key.tenant_id}});
        sock->emit("internal_server_error", boost::json::serialize(boost::json::object{{"message", message}}));
        if (ack_id) {
            sock->ack(*ack_id, error_ack("internal_server_error", message));
        }
    });
}

void subscriptions::count(const core::device_key& key, int delta) {
    subscription_gauge().fetch_add(delta, std::memory_order_relaxed);
    if (options_.tenants != nullptr) {
        options_.tenants->subscriptions(options_.tenants->slot(key.tenant_id), delta);
    }
}

void subscriptions::drop(socketio::socket& s, const core::device_key& key) {
    auto room = room_of(key);
    s.leave(room);
    interest_.release(key);
    last_.unwatch(room, clock::now());
    if (options_.recovery.on()) {
        options_.recovery.replay->untrack(room);
    }
}

void subscriptions::arm_last_value_timer() {
    auto next = last_.next_expiry();
    if (!next || (last_value_armed_ && *last_value_armed_ <= *next)) {
        return; // nothing due, or the timer already wakes up earlier
    }
    last_value_armed_ = *next;
    last_value_timer_.expires_at(*next);
    last_value_timer_.async_wait([this, alive = alive_](boost::system::error_code ec) {
        if (!ec && *alive) {
            on_last_value_timer();
        }
    });
}

void subscriptions::on_last_value_timer() {
    last_value_armed_.reset();
    for (auto& gone : last_.expire(clock::now())) {
        if (gone.holds_interest && options_.last_value_ttl.count() > 0) {
            interest_.release(gone.key);
        }
    }
    arm_last_value_timer();
}

// {"deviceId"} leaves that device in every tenant the socket holds it for; with "tenantId",
// only that pair.
void subscriptions::unsubscribe(socketio::socket& s, const socketio::event& e) {
    const auto* payload = first_object(e);
    if (payload == nullptr) {
        bad_request(s, "telemetries:unsubscribe", "payload must be an object with deviceId", e.ack_id);
        return;
    }
    if (auto why = check_id(payload->if_contains("deviceId"), "deviceId")) {
        bad_request(s, "telemetries:unsubscribe", *why, e.ack_id);
        return;
    }
    std::string tenant;
    if (const auto* t = payload->if_contains("tenantId"); t != nullptr) {
        if (auto why = check_id(t, "tenantId")) {
            bad_request(s, "telemetries:unsubscribe", *why, e.ack_id);
            return;
        }
        tenant = std::string(t->as_string());
    }
    core::device_key wanted{tenant, std::string(payload->at("deviceId").as_string())};
    auto& st = state_of(s);
    if (!st.unsubscribed_at) {
        st.unsubscribed_at = std::make_unique<decltype(st.unsubscribed_at)::element_type>();
    }
    (*st.unsubscribed_at)[wanted] = st.next_request; // cancels subscribe requests still pending
    std::vector<core::device_key> left;
    std::erase_if(st.subscriptions, [&](const subscription& sub) {
        bool match = sub.key.device_id == wanted.device_id && (tenant.empty() || sub.key.tenant_id == tenant);
        if (match) {
            left.push_back(sub.key);
        }
        return match;
    });
    for (const auto& key : left) {
        count(key, -1);
        drop(s, key);
    }
    arm_last_value_timer();
    if (e.ack_id) {
        s.ack(*e.ack_id, ack_ok);
    }
}

void subscriptions::forget(socketio::socket& s, std::string_view reason) {
    subscribed_.erase(&s);
    if (s.data) {
        auto& st = state_of(s);
        for (const auto& sub : st.subscriptions) {
            count(sub.key, -1);
        }
        if (options_.recovery.on() && !st.pid.empty() && socketio::is_recoverable(reason)) {
            persist(s); // its subscriptions' holds pass to the session
        } else {
            for (const auto& sub : st.subscriptions) {
                drop(s, sub.key);
            }
        }
        st.subscriptions.clear();
        arm_last_value_timer();
        unschedule_expiry(st);
    }
}

void subscriptions::deny(socketio::socket& s, const core::device_key& key, const std::string& message,
                         std::optional<std::uint64_t> ack_id) {
    core::log::info("access_denied",
                    {{"conn", s.session().number()}, {"deviceId", key.device_id}, {"tenantId", key.tenant_id}});
    s.emit("access_denied", boost::json::serialize(boost::json::object{
                                {"deviceId", key.device_id}, {"tenantId", key.tenant_id}, {"message", message}}));
    if (ack_id) {
        s.ack(*ack_id, error_ack("access_denied", message));
    }
    // DISCONNECT, then the Engine.IO close; the writer flushes all of this first (K4).
    s.disconnect(true);
}

// Each subscription is checked again once it is older than the interval. The timer ticks at
// a tenth of the interval, so a revoked user stops receiving within 1.1 intervals at most.
void subscriptions::reauthorize() {
    std::vector<std::shared_ptr<socketio::socket>> sockets;
    for (auto it = subscribed_.begin(); it != subscribed_.end();) {
        if (auto sp = it->second.lock(); sp && sp->connected()) {
            sockets.push_back(std::move(sp));
            ++it;
        } else {
            it = subscribed_.erase(it);
        }
    }
    for (auto& sock : sockets) {
        recheck(sock, false, "authorization revoked");
    }
    auto tick = std::max<std::chrono::milliseconds>(std::chrono::milliseconds(100), options_.reauth_interval / 10);
    reauth_timer_.expires_after(tick);
    reauth_timer_.async_wait([this, alive = alive_](boost::system::error_code ec) {
        if (!ec && *alive) {
            reauthorize();
        }
    });
}

void subscriptions::recheck(const std::shared_ptr<socketio::socket>& sock, bool all, std::string_view denial) {
    auto now = clock::now();
    auto& st = state_of(*sock);
    for (auto& sub : st.subscriptions) {
        if (sub.checking || (!all && now - sub.authorized_at < options_.reauth_interval)) {
            continue;
        }
        sub.checking = true;
        authz_.check(ex_, {st.token, sub.key.tenant_id, sub.key.device_id},
                     [this, alive = alive_, weak = std::weak_ptr(sock), key = sub.key,
                      denial = std::string(denial)](const authorization::result& r) {
                         auto s = weak.lock();
                         if (!*alive || !s || !s->connected()) {
                             return;
                         }
                         auto& state = state_of(*s);
                         auto it = std::find_if(state.subscriptions.begin(), state.subscriptions.end(),
                                                [&](const subscription& x) { return same_key(x, key); });
                         if (it == state.subscriptions.end()) {
                             return; // unsubscribed meanwhile
                         }
                         it->checking = false;
                         if (r.outcome == verdict::denied) {
                             deny(*s, key, denial, std::nullopt);
                         } else if (r.outcome == verdict::allowed) {
                             it->authorized_at = clock::now();
                         } else {
                             // An error is not a revocation: keep the subscription, try again
                             // at the next tick.
                             core::log::warn("reauthorization_error", {{"conn", s->session().number()},
                                                                       {"deviceId", key.device_id},
                                                                       {"tenantId", key.tenant_id},
                                                                       {"message", r.message}});
                         }
                     });
    }
}

void subscriptions::schedule_expiry(socketio::socket& s, std::size_t stage) {
    auto& st = state_of(s);
    st.expiry_scheduled = true;
    auto due = authorization::to_steady(*st.token_expires, std::chrono::system_clock::now(), clock::now()) +
               expiry_delays[stage];
    bool earliest = expiries_.empty() || due < expiries_.begin()->first;
    st.expiry_entry = expiries_.emplace(due, expiry_check{s.weak_from_this(), stage});
    if (earliest) {
        arm_expiry_timer();
    }
}

void subscriptions::unschedule_expiry(socket_state& st) {
    if (st.expiry_entry) {
        expiries_.erase(*st.expiry_entry); // the timer may wake for it: it then finds nothing due
        st.expiry_entry.reset();
    }
}

void subscriptions::arm_expiry_timer() {
    if (expiries_.empty()) {
        return;
    }
    expiry_timer_.expires_at(expiries_.begin()->first); // cancels a wait for a later one
    expiry_timer_.async_wait([this, alive = alive_](boost::system::error_code ec) {
        if (!ec && *alive) {
            on_expiry_timer();
        }
    });
}

void subscriptions::on_expiry_timer() {
    auto now = clock::now();
    std::vector<expiry_check> due;
    while (!expiries_.empty() && expiries_.begin()->first <= now) {
        due.push_back(std::move(expiries_.begin()->second));
        expiries_.erase(expiries_.begin());
    }
    for (auto& check : due) {
        auto sock = check.socket.lock();
        if (!sock || !sock->data) {
            continue;
        }
        auto& st = state_of(*sock);
        st.expiry_entry.reset(); // its one entry was this one, taken off the queue above
        if (!sock->connected()) {
            continue;
        }
        if (check.stage == 0) {
            core::log::info("token_expired",
                            {{"conn", sock->session().number()}, {"subscriptions", st.subscriptions.size()}});
        }
        recheck(sock, true, "token expired");
        if (check.stage + 1 < expiry_delays.size()) {
            schedule_expiry(*sock, check.stage + 1);
        }
    }
    arm_expiry_timer();
}

namespace {

// What the API said about a new token, over all the socket's subscriptions.
struct refresh_job {
    std::size_t left = 0;
    std::optional<core::device_key> denied;
    std::optional<std::string> error;
};

} // namespace

void subscriptions::refresh(socketio::socket& s, std::string token, std::optional<std::uint64_t> ack_id) {
    auto& st = state_of(s);
    auto request = ++st.refresh_requests;
    // Applied once every live subscription is allowed with it; with none there is nothing to
    // ask the API, and the next subscription asks it with the new token.
    auto apply = [this, request, ack_id](socketio::socket& sock, std::string new_token) {
        auto& state = state_of(sock);
        if (request <= state.refresh_applied) {
            if (ack_id) {
                sock.ack(*ack_id, error_ack("bad_request", "a later auth:refresh was applied first"));
            }
            return;
        }
        state.refresh_applied = request;
        unschedule_expiry(state); // the old token's re-checks go with it
        state.token = std::move(new_token);
        state.token_expires = authorization::token_expiry(state.token);
        state.expiry_scheduled = false;
        auto now = clock::now();
        for (auto& sub : state.subscriptions) {
            sub.authorized_at = now;
        }
        if (state.token_expires && !state.subscriptions.empty()) {
            schedule_expiry(sock, 0);
        }
        core::log::info("token_refreshed",
                        {{"conn", sock.session().number()}, {"subscriptions", state.subscriptions.size()}});
        if (ack_id) {
            sock.ack(*ack_id, ack_ok);
        }
    };
    if (st.subscriptions.empty()) {
        apply(s, std::move(token));
        return;
    }
    auto job = std::make_shared<refresh_job>();
    job->left = st.subscriptions.size();
    auto shared_token = std::make_shared<const std::string>(std::move(token));
    for (const auto& sub : st.subscriptions) {
        authz_.check(
            ex_, {*shared_token, sub.key.tenant_id, sub.key.device_id},
            [alive = alive_, weak = s.weak_from_this(), key = sub.key, job, shared_token, apply,
             ack_id](const authorization::result& r) {
                auto sock = weak.lock();
                if (!*alive || !sock || !sock->connected()) {
                    return;
                }
                if (r.outcome == verdict::denied && !job->denied) {
                    job->denied = key;
                } else if (r.outcome == verdict::error && !job->error) {
                    job->error = r.message;
                }
                if (--job->left > 0) {
                    return;
                }
                if (job->denied) {
                    core::log::info("token_refresh_refused", {{"conn", sock->session().number()},
                                                              {"deviceId", job->denied->device_id},
                                                              {"tenantId", job->denied->tenant_id}});
                    if (ack_id) {
                        sock->ack(*ack_id,
                                  error_ack("access_denied", "the new token is not authorized for device '" +
                                                                 job->denied->device_id + "' of tenant '" +
                                                                 job->denied->tenant_id + "'; the old one stays"));
                    }
                } else if (job->error) {
                    if (ack_id) {
                        sock->ack(*ack_id, error_ack("internal_server_error", *job->error + "; the old token stays"));
                    }
                } else {
                    apply(*sock, *shared_token);
                }
            });
    }
}

} // namespace kamea::app::telemetry
