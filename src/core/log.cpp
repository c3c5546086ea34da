#include "core/log.hpp"

#include <boost/json/serialize.hpp>

#include <spdlog/sinks/stdout_sinks.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

namespace kamea::core::log {
namespace {

// ISO 8601 UTC with milliseconds, e.g. 2026-11-29T17:37:21.123Z.
std::string utc_timestamp() {
    using namespace std::chrono;
    auto now = system_clock::now();
    auto secs = system_clock::to_time_t(now);
    auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[32];
    std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms));
    return buf;
}

} // namespace

void init(std::string_view level) {
    auto logger = spdlog::stdout_logger_mt("kamea");
    logger->set_pattern("%v"); // the message is already a complete JSON object
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(logger);
    spdlog::set_level(spdlog::level::from_str(std::string(level)));
}

namespace {
std::string line_of(spdlog::level::level_enum level, std::string_view event, boost::json::object fields);
}

void write(spdlog::level::level_enum level, std::string_view event, boost::json::object fields) {
    if (!spdlog::should_log(level)) {
        return;
    }
    spdlog::log(level, "{}", line_of(level, event, std::move(fields)));
}

void lifecycle(std::string_view event, boost::json::object fields) {
    if (spdlog::get_level() == spdlog::level::off) {
        return;
    }
    spdlog::log(spdlog::level::critical, "{}", line_of(spdlog::level::info, event, std::move(fields)));
}

namespace {
std::string line_of(spdlog::level::level_enum level, std::string_view event, boost::json::object fields) {
    boost::json::object line;
    line["time"] = utc_timestamp();
    line["level"] = spdlog::level::to_string_view(level).data();
    line["event"] = event;
    for (auto& f : fields) {
        line[f.key()] = std::move(f.value());
    }
    return boost::json::serialize(line);
}
} // namespace

} // namespace kamea::core::log
