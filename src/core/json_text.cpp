#include "core/json_text.hpp"

#include <cstring>

namespace kamea::core {

std::string_view trim_json_space(std::string_view s) {
    auto space = [](char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; };
    while (!s.empty() && space(s.front())) {
        s.remove_prefix(1);
    }
    while (!s.empty() && space(s.back())) {
        s.remove_suffix(1);
    }
    return s;
}

namespace {

// Index of the quote that ends the string whose contents start at `i`. A quote preceded by an
// odd number of backslashes is escaped. memchr finds the candidates: the contents of a
// telemetry are mostly strings, and this is the ingestion path's per-byte loop.
std::size_t end_of_string(std::string_view a, std::size_t i) {
    for (;;) {
        const void* q = std::memchr(a.data() + i, '"', a.size() - i);
        if (q == nullptr) {
            return a.size(); // unterminated: cannot happen in parsed JSON
        }
        auto at = static_cast<std::size_t>(static_cast<const char*>(q) - a.data());
        std::size_t backslashes = 0;
        while (at - backslashes > i && a[at - backslashes - 1] == '\\') {
            ++backslashes;
        }
        if (backslashes % 2 == 0) {
            return at;
        }
        i = at + 1;
    }
}

} // namespace

std::vector<std::string_view> split_array_elements(std::string_view a) {
    std::vector<std::string_view> out;
    a = trim_json_space(a);
    if (a.size() < 2 || a.front() != '[') {
        return out;
    }
    std::size_t start = 1;
    int depth = 0;
    for (std::size_t i = 1; i < a.size(); ++i) {
        char c = a[i];
        if (c == '"') {
            i = end_of_string(a, i + 1);
        } else if (c == '[' || c == '{') {
            ++depth;
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        } else if ((c == ',' || c == ']') && depth == 0) {
            auto element = trim_json_space(a.substr(start, i - start));
            if (!element.empty()) {
                out.push_back(element);
            }
            start = i + 1;
            if (c == ']') {
                break;
            }
        }
    }
    return out;
}

} // namespace kamea::core
