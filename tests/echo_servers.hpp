// The echo servers of the course: the one list that the echo conformance
// suite runs every case against. A lesson that adds an echo server adds one
// line here, and its program to the PROGRAMS of the echo_conformance_test suite in
// tests/CMakeLists.txt so that building the suite builds the server first.
// The suites' fixtures derive from EachServerTest, which skips a server that
// cannot run here, saying why.
#pragma once

#include <gtest/gtest.h>
#include <linux/io_uring.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <ostream>
#include <string>
#include <vector>

#include "tests/program.hpp"

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
  // Lesson 7's runs only where the kernel allows io_uring.
  bool needs_io_uring = false;
};

// Why this process may not use io_uring (the error of io_uring_setup), or ""
// where it may. Lesson 7's tests skip with this reason where it is refused.
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
  static const std::vector<EchoServer> servers = {
      {"blocking_echo_server", {}, false, false},                   // lesson 1
      {"select_echo_server", {}, true, true},                       // lesson 2
      {"callback_echo_server", {}, true, true},                     // lesson 3
      {"callback_echo_server", {"--backend", "poll"}, true, true},  // lesson 3
      {"generator_echo_server", {}, true, true},                    // lesson 4
      {"coroutine_echo_server", {}, true, true},                    // lesson 5
      {"async_echo_server", {}, true, true},                        // lesson 6
      {"uring_echo_server", {}, true, true, true},                  // lesson 7
  };
  return servers;
}

// Runs this test program again, the cases that `filter` selects, where
// io_uring is refused as Docker's default seccomp profile refuses it
// (without_io_uring): every one of them must skip, saying `why`.
inline void expect_each_skipped_without_io_uring(const std::string& filter,
                                                 const std::string& why) {
  std::array<char, 4096> self{};
  ASSERT_GT(readlink("/proc/self/exe", self.data(), self.size() - 1), 0) << std::strerror(errno);
  using namespace std::chrono_literals;
  const test_support::Finished finished = test_support::run_program(
      "without_io_uring", {self.data(), "--gtest_filter=" + filter}, {}, 60s);
  EXPECT_EQ(finished.exit_code, 0) << finished.output << finished.error;
  const auto lines_with = [&finished](const std::string& text) {
    std::size_t count = 0;
    for (std::size_t at = finished.output.find(text); at != std::string::npos;
         at = finished.output.find(text, at + 1))
      ++count;
    return count;
  };
  EXPECT_GT(lines_with("[ RUN      ]"), 0u) << finished.output;
  EXPECT_EQ(lines_with("[       OK ]"), 0u) << finished.output;  // skipped ones say SKIPPED
  EXPECT_EQ(lines_with("[  FAILED  ]"), 0u) << finished.output;
  EXPECT_NE(finished.output.find(why), std::string::npos) << finished.output;
}

// Why `server` cannot run here, or "" where it can.
inline std::string why_it_cannot_run(const EchoServer& server) {
  if (!server.needs_io_uring || io_uring_refusal().empty()) return "";
  return server.program + " cannot run here: io_uring is refused (" + io_uring_refusal() + ")";
}

// The fixture of a suite with a case for each server. A fixture that
// derives from it and has a SetUp() of its own calls this one first, and
// starts nothing once IsSkipped().
class EachServerTest : public testing::TestWithParam<EchoServer> {
 protected:
  void SetUp() override {
    if (const std::string why = why_it_cannot_run(GetParam()); !why.empty()) GTEST_SKIP() << why;
  }
};

// The fixture of a suite of lesson 7's runtime: its cases skip, saying why,
// where io_uring is refused.
class IoUringTest : public testing::Test {
 protected:
  void SetUp() override {
    if (!io_uring_refusal().empty())
      GTEST_SKIP() << "io_uring is refused here: " << io_uring_refusal();
  }
};

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
