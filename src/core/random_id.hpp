#pragma once
// Unguessable identifiers (protocol.md E10): Engine.IO sids and Socket.IO socket ids.

#include <string>

namespace kamea::core {

// 20 characters of URL-safe base64 from 15 random bytes. When `tag` is given (0..63), the
// first character encodes it: the sid then names the shard that owns its session, so a
// request that lands on another shard knows where to go without any shared table.
std::string random_id(int tag = -1);

// The tag stored by random_id, or -1 if `id` is not one of ours.
int random_id_tag(std::string_view id);

} // namespace kamea::core
