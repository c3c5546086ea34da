#include "core/json_text.hpp"

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

std::vector<std::string_view> split_array_elements(std::string_view a) {
    std::vector<std::string_view> out;
    a = trim_json_space(a);
    if (a.size() < 2 || a.front() != '[') {
        return out;
    }
    std::size_t start = 1;
    int depth = 0;
    bool in_string = false;
    for (std::size_t i = 1; i < a.size(); ++i) {
        char c = a[i];
        if (in_string) {
            if (c == '\\') {
                ++i;
            } else if (c == '"') {
                in_string = false;
            }
            continue;
        }
        if (c == '"') {
            in_string = true;
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
