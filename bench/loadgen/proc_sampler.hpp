#pragma once
// Reads another process's resident memory and CPU time from /proc (Linux), for measuring the
// server under test: VmRSS/VmHWM/Threads from /proc/<pid>/status, utime+stime from
// /proc/<pid>/stat, and optionally the number of open descriptors.

#include <boost/json/object.hpp>

#include <cstdint>
#include <optional>

namespace kamea::loadgen {

struct proc_sample {
    double t_s = 0;            // seconds since the load generator started
    std::uint64_t rss_kib = 0; // VmRSS
    std::uint64_t hwm_kib = 0; // VmHWM (peak RSS)
    double cpu_s = 0;          // user + system
    double user_s = 0;
    double system_s = 0;
    std::uint32_t threads = 0;
    std::int64_t fds = -1; // -1 when not counted

    boost::json::object to_json() const;
};

// nullopt when the process is gone or unreadable.
std::optional<proc_sample> sample_process(int pid, bool count_fds);

} // namespace kamea::loadgen
