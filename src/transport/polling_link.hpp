#pragma once
// A pending long-polling GET, as the session sees it: waking it means "answer now".

#include "engineio/session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace kamea::transport {

class polling_link final : public engineio::transport_link {
public:
    explicit polling_link(const boost::asio::any_io_executor& ex) : timer_(ex) {}

    void wake() override {
        woken_ = true;
        timer_.cancel();
    }

    // Returns once woken (at once if it already was).
    boost::asio::awaitable<void> wait() {
        if (!woken_) {
            timer_.expires_at(boost::asio::steady_timer::time_point::max());
            co_await timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
        }
        woken_ = false;
    }

private:
    boost::asio::steady_timer timer_;
    bool woken_ = false;
};

} // namespace kamea::transport
