#pragma once
// The expiry of a bearer token that is a JWT: the `exp` claim of its payload, read without
// checking the signature (the Management API stays the judge of every token; the expiry
// only tells the server when to ask it again). Pure.

#include <chrono>
#include <optional>
#include <string_view>

namespace kamea::app::authorization {

// nullopt when the token is not three base64url parts, the payload is not a JSON object, or
// it has no numeric `exp` (seconds since the epoch) within 0 .. year 9999.
std::optional<std::chrono::system_clock::time_point> token_expiry(std::string_view token);

// That expiry on the steady clock the shards' timers run on, from `now` on both clocks.
std::chrono::steady_clock::time_point to_steady(std::chrono::system_clock::time_point t,
                                                std::chrono::system_clock::time_point system_now,
                                                std::chrono::steady_clock::time_point steady_now);

} // namespace kamea::app::authorization
