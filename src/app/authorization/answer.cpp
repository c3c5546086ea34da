#include "app/authorization/answer.hpp"

#include <boost/json/parse.hpp>

#include <string>

namespace kamea::app::authorization {

result read_answer(unsigned status, std::string_view body) {
    if (status == 401 || status == 403) {
        return {verdict::denied, "not authorized for this device"};
    }
    if (status != 200) {
        return {verdict::error, "management API answered " + std::to_string(status)};
    }
    boost::system::error_code ec;
    auto answer = boost::json::parse(body, ec);
    const boost::json::value* flag = nullptr;
    if (!ec && answer.is_object()) {
        flag = answer.as_object().if_contains("authorized");
    }
    if (flag == nullptr || !flag->is_bool()) {
        return {verdict::error, "management API answer unreadable"};
    }
    return flag->as_bool() ? result{verdict::allowed, {}} : result{verdict::denied, "not authorized for this device"};
}

} // namespace kamea::app::authorization
