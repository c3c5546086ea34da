#include "loadgen/proc_sampler.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <unistd.h>

namespace kamea::loadgen {

namespace {

std::optional<std::string> read_all(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        return std::nullopt;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::uint64_t status_kib(const std::string& status, std::string_view key) {
    auto pos = status.find(key);
    if (pos == std::string::npos) {
        return 0;
    }
    return std::stoull(status.substr(pos + key.size()));
}

double round3(double v) {
    return std::round(v * 1000) / 1000;
}

} // namespace

std::optional<proc_sample> sample_process(int pid, bool count_fds) {
    std::string base = "/proc/" + std::to_string(pid);
    auto status = read_all(base + "/status");
    auto stat = read_all(base + "/stat");
    if (!status || !stat) {
        return std::nullopt;
    }
    proc_sample s;
    try {
        s.rss_kib = status_kib(*status, "\nVmRSS:");
        s.hwm_kib = status_kib(*status, "\nVmHWM:");
        s.threads = static_cast<std::uint32_t>(status_kib(*status, "\nThreads:"));
        // Fields after the command name, which is in parentheses and may hold spaces:
        // state(3) ... utime(14) stime(15), counted from 1.
        auto close = stat->rfind(')');
        if (close == std::string::npos) {
            return std::nullopt;
        }
        std::istringstream fields(stat->substr(close + 2));
        std::string field;
        static const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
        for (int i = 3; i <= 15 && fields >> field; ++i) {
            if (i == 14) {
                s.user_s = static_cast<double>(std::stoull(field)) / ticks;
            } else if (i == 15) {
                s.system_s = static_cast<double>(std::stoull(field)) / ticks;
            }
        }
        s.cpu_s = s.user_s + s.system_s;
    } catch (const std::exception&) {
        return std::nullopt;
    }
    if (count_fds) {
        std::error_code ec;
        std::int64_t n = 0;
        for (std::filesystem::directory_iterator it(base + "/fd", ec), end; !ec && it != end; it.increment(ec)) {
            ++n;
        }
        s.fds = ec ? -1 : n;
    }
    return s;
}

boost::json::object proc_sample::to_json() const {
    boost::json::object o{{"t_s", round3(t_s)},     {"rss_kib", rss_kib},       {"hwm_kib", hwm_kib},
                          {"cpu_s", round3(cpu_s)}, {"user_s", round3(user_s)}, {"system_s", round3(system_s)},
                          {"threads", threads}};
    if (fds >= 0) {
        o["fds"] = fds;
    }
    return o;
}

} // namespace kamea::loadgen
