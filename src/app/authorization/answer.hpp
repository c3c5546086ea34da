#pragma once
// What the Management API's answer to one check means (contract section 6): 401 or 403 is a
// denial, 200 with {"authorized": true|false} is the verdict, anything else is an error whose
// message names the cause without repeating the body. Pure: unit-tested and fuzzed
// (tests/fuzz/fuzz_management_api_answer.cpp) without sockets.

#include "app/authorization/verdict.hpp"

#include <string_view>

namespace kamea::app::authorization {

result read_answer(unsigned status, std::string_view body);

} // namespace kamea::app::authorization
