#pragma once
// The HTTP message types of the routes ops answers (Beast's, as the transport reads them).

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <string>

namespace kamea::ops {

using http_request = boost::beast::http::request<boost::beast::http::string_body>;
using http_response = boost::beast::http::response<boost::beast::http::string_body>;

http_response json_response(const http_request& req, boost::beast::http::status status, std::string body);

} // namespace kamea::ops
