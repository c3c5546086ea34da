#pragma once
// Raw JSON text helpers: what we forward keeps the producer's exact bytes (contract
// section 7: "forwarded as the JSON text it arrived in"), so we slice, never re-encode.

#include <string_view>
#include <vector>

namespace kamea::core {

// The raw text of each top-level element of `array_text`, which must be valid JSON (parse
// it first): `[ {"a":1} , 2 ]` -> `{"a":1}`, `2`.
std::vector<std::string_view> split_array_elements(std::string_view array_text);

std::string_view trim_json_space(std::string_view s);

} // namespace kamea::core
