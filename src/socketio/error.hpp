#pragma once
// Why the Socket.IO layer refused what a client sent, as one error_code category (as Beast and
// Boost.Redis do): the packet codec's reasons (S5) and the connection's state rules (S10, S16).
// A protocol error closes the session and logs its reason.

#include <boost/system/error_code.hpp>

#include <type_traits>

namespace kamea::socketio {

enum class error {
    // The codec (decode).
    bad_type = 1,
    bad_attachments,
    bad_namespace,
    bad_id,
    bad_json,
    bad_payload,
    // The connection's rules.
    binary_without_header,    // a binary frame no packet announced (S16)
    text_during_attachments,  // a text packet while attachments are still expected (S16)
    bad_placeholders,         // a placeholder that names no attachment (S16)
    namespace_not_joined,     // only CONNECT may name a namespace not joined (S10)
    namespace_already_joined, // a second CONNECT for a namespace (S10)
    unexpected_packet,        // CONNECT_ERROR from a client, or an unknown type
};

const boost::system::error_category& error_category();

inline boost::system::error_code make_error_code(error e) {
    return {static_cast<int>(e), error_category()};
}

} // namespace kamea::socketio

template <>
struct boost::system::is_error_code_enum<kamea::socketio::error> : std::true_type {};
