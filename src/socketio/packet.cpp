#include "socketio/packet.hpp"

#include "core/json_text.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <array>

namespace kamea::socketio {
namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

bool payload_valid(packet_type type, const boost::json::value& v, bool present) {
    switch (type) {
    case packet_type::connect:
        return !present || v.is_object();
    case packet_type::disconnect:
        return !present;
    case packet_type::connect_error:
        return present && (v.is_object() || v.is_string());
    case packet_type::event:
    case packet_type::binary_event: {
        if (!v.is_array() || v.as_array().empty()) {
            return false;
        }
        const auto& first = v.as_array().front();
        if (first.is_number()) {
            return true;
        }
        return first.is_string() && !is_reserved_event(first.as_string());
    }
    case packet_type::ack:
    case packet_type::binary_ack:
        return v.is_array();
    }
    return false;
}

} // namespace

bool is_reserved_event(std::string_view name) {
    static constexpr std::array<std::string_view, 6> reserved = {"connect",       "connect_error", "disconnect",
                                                                 "disconnecting", "newListener",   "removeListener"};
    for (auto r : reserved) {
        if (r == name) {
            return true;
        }
    }
    return false;
}

decode_result decode(std::string_view text) {
    decode_result r;
    if (text.empty() || text[0] < '0' || text[0] > '6') {
        r.error = error::bad_type;
        return r;
    }
    packet p;
    p.type = static_cast<packet_type>(text[0]);
    std::size_t i = 1;
    if (p.type == packet_type::binary_event || p.type == packet_type::binary_ack) {
        std::size_t start = i;
        while (i < text.size() && is_digit(text[i]) && i - start < 3) {
            ++i;
        }
        if (i == start || i >= text.size() || text[i] != '-') {
            r.error = error::bad_attachments;
            return r;
        }
        for (std::size_t k = start; k < i; ++k) {
            p.attachments = p.attachments * 10 + static_cast<std::size_t>(text[k] - '0');
        }
        if (p.attachments > max_attachments) {
            r.error = error::bad_attachments;
            return r;
        }
        ++i;
    }
    if (i < text.size() && text[i] == '/') {
        auto end = text.find(',', i);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        p.nsp.assign(text.substr(i, end - i));
        i = end == text.size() ? end : end + 1;
    }
    if (i < text.size() && is_digit(text[i])) {
        std::size_t start = i;
        std::uint64_t id = 0;
        while (i < text.size() && is_digit(text[i])) {
            if (i - start >= 15) { // beyond JavaScript's safe integers
                r.error = error::bad_id;
                return r;
            }
            id = id * 10 + static_cast<std::uint64_t>(text[i] - '0');
            ++i;
        }
        p.id = id;
    }
    p.json = text.substr(i);
    if (!p.json.empty()) {
        boost::system::error_code ec;
        p.value = boost::json::parse(p.json, ec);
        if (ec) {
            r.error = error::bad_json;
            return r;
        }
    }
    if (!payload_valid(p.type, p.value, !p.json.empty())) {
        r.error = error::bad_payload;
        return r;
    }
    r.value = std::move(p);
    return r;
}

std::string_view args_after_first(std::string_view a) {
    // `a` was parsed already: slice the raw text from the second element to the last one.
    auto elements = core::split_array_elements(a);
    if (elements.size() < 2) {
        return {};
    }
    const char* begin = elements[1].data();
    const char* end = elements.back().data() + elements.back().size();
    return {begin, static_cast<std::size_t>(end - begin)};
}

bool placeholders_valid(const boost::json::value& v, std::size_t count) {
    if (v.is_array()) {
        for (const auto& e : v.as_array()) {
            if (!placeholders_valid(e, count)) {
                return false;
            }
        }
        return true;
    }
    if (!v.is_object()) {
        return true;
    }
    const auto& o = v.as_object();
    if (auto* ph = o.if_contains("_placeholder"); ph != nullptr && ph->is_bool() && ph->as_bool()) {
        auto* num = o.if_contains("num");
        if (num == nullptr || !num->is_number()) {
            return false;
        }
        boost::system::error_code ec;
        auto n = num->to_number<std::int64_t>(ec);
        return !ec && n >= 0 && static_cast<std::size_t>(n) < count;
    }
    for (const auto& [k, e] : o) {
        if (!placeholders_valid(e, count)) {
            return false;
        }
    }
    return true;
}

std::string encode_head(packet_type type, std::string_view nsp, std::optional<std::uint64_t> id,
                        std::size_t attachments) {
    std::string head;
    head += static_cast<char>(type);
    if (type == packet_type::binary_event || type == packet_type::binary_ack) {
        head += std::to_string(attachments);
        head += '-';
    }
    if (nsp != "/") {
        head += nsp;
        head += ',';
    }
    if (id) {
        head += std::to_string(*id);
    }
    return head;
}

std::string encode_event_body(std::string_view name, std::string_view args) {
    std::string body = "[";
    body += boost::json::serialize(boost::json::string_view(name.data(), name.size()));
    if (!args.empty()) {
        body += ',';
        body += args;
    }
    body += ']';
    return body;
}

engineio::wire_ptr make_packet(packet_type type, std::string_view nsp, std::string_view body,
                               std::optional<std::uint64_t> id, std::size_t attachments, std::int64_t stamp_ns,
                               std::string conflate_key) {
    return engineio::make_text(engineio::packet_type::message, encode_head(type, nsp, id, attachments), body, stamp_ns,
                               std::move(conflate_key));
}

} // namespace kamea::socketio
