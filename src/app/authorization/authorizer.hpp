#pragma once
// Routes each check to the shard that owns its key (a hash), so identical checks from any
// shard meet in one management_api_client and share one request; the answer comes back to
// the caller's shard. Built once at startup; immutable afterwards, so usable from any shard.

#include "app/authorization/management_api_client.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <memory>
#include <vector>

namespace kamea::app::authorization {

class authorizer {
public:
    struct shard_client {
        boost::asio::any_io_executor executor;
        management_api_client* client;
    };
    explicit authorizer(std::vector<shard_client> shards) : shards_(std::move(shards)) {}

    // Calls `done` on `caller` (the caller's shard executor), later, exactly once.
    void check(const boost::asio::any_io_executor& caller, check_key key, result_handler done) const;

private:
    std::vector<shard_client> shards_;
};

} // namespace kamea::app::authorization
