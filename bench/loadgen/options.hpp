#pragma once
// Command-line options of kamea-loadgen (`kamea-loadgen --help`).

#include <boost/asio/ip/address.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kamea::loadgen {

struct options {
    // Target
    std::string host = "127.0.0.1";
    std::uint16_t port = 3000;
    std::string path = "/socket.io/";
    std::string nsp = "/devices";
    std::string token = "bench-token";

    // Population
    std::string scenario = "idle";
    std::size_t devices = 1000;   // subscribe: client i watches dev-<i mod devices>
    std::string tenant = "bench"; // subscribe: tenantId of every subscription
    std::size_t first_index = 0;  // index of this process's first client
    std::size_t connections = 1000;
    double rate = 0;                               // new connections per second for the process, 0 = no pacing
    std::size_t concurrency = 200;                 // handshakes in flight for the process
    std::vector<boost::asio::ip::address> sources; // local addresses, used round-robin
    unsigned threads = 1;
    std::chrono::milliseconds handshake_timeout{10000};
    std::size_t max_message = 1024 * 1024;

    // Run length: hold the population this long once every connection is settled, then
    // report; 0 = until SIGINT/SIGTERM.
    double hold_s = 10;

    // Measurement
    int server_pid = 0;
    std::chrono::milliseconds sample_interval{1000};
    bool count_fds = true;
    std::chrono::milliseconds progress_interval{1000}; // 0 = no progress lines
    std::string label;
};

// Parses argv. On --help or an error, returns nullopt with `exit_code` set (0 for --help).
std::optional<options> parse_options(int argc, char** argv, int& exit_code);

} // namespace kamea::loadgen
