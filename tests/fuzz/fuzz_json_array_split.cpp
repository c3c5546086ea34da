// The ingestion path's array splitter (core/json_text.hpp): for any text Boost.JSON accepts as
// an array, each slice must be exactly one element, equal to the one the library parsed.
#include "core/json_text.hpp"

#include <boost/json/parse.hpp>

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    boost::system::error_code ec;
    auto value = boost::json::parse(text, ec);
    if (ec || !value.is_array()) {
        return 0;
    }
    const auto& array = value.as_array();
    auto parts = kamea::core::split_array_elements(text);
    if (parts.size() != array.size()) {
        __builtin_trap();
    }
    for (std::size_t i = 0; i < parts.size(); ++i) {
        auto element = boost::json::parse(parts[i], ec);
        if (ec || element != array[i]) {
            __builtin_trap();
        }
    }
    return 0;
}
