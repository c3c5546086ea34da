#include "app/authorization/authorizer.hpp"

#include <boost/asio/post.hpp>

namespace kamea::app::authorization {

void authorizer::check(const boost::asio::any_io_executor& caller, check_key key, result_handler done) const {
    const auto& owner = shards_[check_key_hash{}(key) % shards_.size()];
    boost::asio::post(owner.executor,
                      [client = owner.client, caller, key = std::move(key), done = std::move(done)]() mutable {
                          client->check(key, [caller, done = std::move(done)](const result& r) mutable {
                              boost::asio::post(caller, [done = std::move(done), r] { done(r); });
                          });
                      });
}

} // namespace kamea::app::authorization
