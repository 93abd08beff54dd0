// The echo servers of the course: the one list that the echo conformance
// suite runs every case against. A lesson that adds an echo server adds one
// line here, and its program to the PROGRAMS of the echo_conformance_test suite in
// tests/CMakeLists.txt so that building the suite builds the server first.
#pragma once

#include <gtest/gtest.h>
#include <linux/io_uring.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <ostream>
#include <string>
#include <vector>

namespace echo_servers {

struct EchoServer {
  std::string program;
  std::vector<std::string> extra_arguments;
  // Lesson 1 serves one client at a time, so the cases with several clients
  // served together leave it out.
  bool serves_clients_at_once;
  // Out of descriptors, it turns the next client away at once (it accepts
  // with common::accept_client()) rather than leave it waiting.
  bool turns_clients_away;
};

// Why this process may not use io_uring (the error of io_uring_setup), or ""
// where it may. Lesson 7's suites skip with this reason where it is refused.
inline const std::string& io_uring_refusal() {
  static const std::string reason = [] {
    io_uring_params parameters{};
    const long ring = syscall(SYS_io_uring_setup, 1, &parameters);
    if (ring >= 0) close(static_cast<int>(ring));
    return ring >= 0 ? std::string() : "io_uring_setup: " + std::string(std::strerror(errno));
  }();
  return reason;
}

inline const std::vector<EchoServer>& all() {
  static const std::vector<EchoServer> servers = [] {
    std::vector<EchoServer> every = {
        {"blocking_echo_server", {}, false, false},                   // lesson 1
        {"select_echo_server", {}, true, true},                       // lesson 2
        {"callback_echo_server", {}, true, true},                     // lesson 3
        {"callback_echo_server", {"--backend", "poll"}, true, true},  // lesson 3
        {"generator_echo_server", {}, true, true},                    // lesson 4
        {"coroutine_echo_server", {}, true, true},                    // lesson 5
        {"async_echo_server", {}, true, true},                        // lesson 6
    };
    // Lesson 7, where the kernel allows io_uring (uring_echo_server_test
    // says so, skipped, where it does not).
    if (io_uring_refusal().empty()) every.push_back({"uring_echo_server", {}, true, true});
    return every;
  }();
  return servers;
}

// The servers for which `has` is true.
inline std::vector<EchoServer> all_that(bool EchoServer::*has) {
  std::vector<EchoServer> servers;
  for (const EchoServer& server : all()) {
    if (server.*has) servers.push_back(server);
  }
  return servers;
}

// "callback_echo_server_backend_poll": the name GoogleTest gives one entry.
inline std::string test_name(const testing::TestParamInfo<EchoServer>& info) {
  std::string name = info.param.program;
  for (const std::string& argument : info.param.extra_arguments) {
    name += '_';
    for (const char c : argument) {
      if (std::isalnum(static_cast<unsigned char>(c))) name += c;
    }
  }
  return name;
}

// How GoogleTest shows the parameter of a failing test.
inline void PrintTo(const EchoServer& server, std::ostream* out) {
  *out << server.program;
  for (const std::string& argument : server.extra_arguments)
    *out << ' ' << argument;
}

}  // namespace echo_servers
