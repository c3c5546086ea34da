#pragma once
// JSON-lines logging: one object per line with time, level, event and fields.
// Tokens never reach here: callers pass ids and events, never credentials.

#include <boost/json/object.hpp>

#include <spdlog/spdlog.h>

#include <string_view>

namespace kamea::core::log {

void init(std::string_view level);

// Writes {"time":…,"level":…,"event":…, fields…}.
void write(spdlog::level::level_enum level, std::string_view event, boost::json::object fields = {});

inline bool enabled(spdlog::level::level_enum level) {
    return spdlog::should_log(level);
}

inline void debug(std::string_view event, boost::json::object fields = {}) {
    if (enabled(spdlog::level::debug)) {
        write(spdlog::level::debug, event, std::move(fields));
    }
}
inline void info(std::string_view event, boost::json::object fields = {}) {
    write(spdlog::level::info, event, std::move(fields));
}
inline void warn(std::string_view event, boost::json::object fields = {}) {
    write(spdlog::level::warn, event, std::move(fields));
}
inline void error(std::string_view event, boost::json::object fields = {}) {
    write(spdlog::level::err, event, std::move(fields));
}

// Lifecycle events (listening, shutdown) that tools wait for: written as "info" whatever
// --log-level is, unless it is "off".
void lifecycle(std::string_view event, boost::json::object fields = {});

} // namespace kamea::core::log
