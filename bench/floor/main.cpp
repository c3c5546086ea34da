// kamea-floor: see floor_server.hpp. Prints its port on start and its counters as one JSON
// line when stopped (SIGINT/SIGTERM).
#include "floor/floor_server.hpp"

#include <CLI/CLI.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <iostream>
#include <thread>

int main(int argc, char** argv) {
    kamea::floor::settings s;
    std::string path = "uring";
    CLI::App app{"kamea-floor: a bare fan-out server (pre-built frames, no checks) that measures "
                 "the floor of server CPU per delivered message for bench/run.sh's scenarios"};
    app.add_option("--host", s.host, "IPv4 address to listen on")->capture_default_str();
    app.add_option("--port", s.port, "port for WebSocket clients and ingestion POSTs (0: any)")->capture_default_str();
    app.add_option("--internal-port", s.internal_port,
                   "a second port, as kamea-wss's ingestion listener (0: any free one)");
    app.add_option("--send", path,
                   "uring: one io_uring submission per loop turn; epoll: one "
                   "send per recipient")
        ->check(CLI::IsMember({"uring", "epoll"}))
        ->capture_default_str();
    s.threads = std::max(1U, std::thread::hardware_concurrency());
    app.add_option("--threads", s.threads,
                   "event loops, one per thread (default: one per core, "
                   "as kamea-wss)")
        ->check(CLI::Range(1U, 64U))
        ->capture_default_str();
    app.add_option("--ring-entries", s.ring_entries, "submission queue size per loop")
        ->check(CLI::Range(1U, 32768U))
        ->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    s.path = path == "uring" ? kamea::floor::send_path::uring : kamea::floor::send_path::epoll;
    try {
        kamea::floor::floor_server server(s);
        std::cout << boost::json::serialize(
                         boost::json::object{{"listening", server.port()}, {"internal", server.internal_port()}})
                  << std::endl;
        server.run();
        auto c = server.stats();
        std::cout << boost::json::serialize(boost::json::object{
                         {"connections", c.connections},
                         {"subscriptions", c.subscriptions},
                         {"requests", c.requests},
                         {"telemetries", c.telemetries},
                         {"sends", c.sends},
                         {"send_errors", c.send_errors},
                         {"submissions", c.submissions},
                     })
                  << std::endl;
    } catch (const std::exception& e) {
        std::cerr << "kamea-floor: " << e.what() << std::endl;
        return 1;
    }
    return 0;
}
