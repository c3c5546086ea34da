#pragma once
// Standard base64 (binary packets on polling, protocol.md P3) and its URL-safe variant (ids).

#include <optional>
#include <string>
#include <string_view>

namespace kamea::core {

std::string base64_encode(std::string_view bytes);
void base64_encode_append(std::string_view bytes, std::string& out);
// Standard alphabet, padding required; nullopt on any invalid character or length.
std::optional<std::string> base64_decode(std::string_view text);

std::string base64url_encode(std::string_view bytes); // no padding
int base64url_value(char c);                          // -1 if not in the URL-safe alphabet

} // namespace kamea::core
