// Lesson 7's uring_echo_server as a reader runs it: what its --trace shows of
// the batching, how it turns clients away out of descriptors, how few system
// calls it makes under load, and what it says where io_uring is refused.
// (The echo conformance suite checks its echo.)

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <regex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "common/net.hpp"
#include "tests/echo_servers.hpp"
#include "tests/program.hpp"

namespace {

using namespace std::chrono_literals;
using testing::HasSubstr;
using Clock = std::chrono::steady_clock;

// The server where the kernel allows io_uring; skipped, with the server's own
// line saying why, where it does not.
class UringEchoServerTest : public testing::Test {
 protected:
  void SetUp() override {
    if (echo_servers::io_uring_refusal().empty()) return;
    const test_support::Finished refused =
        test_support::run_program("uring_echo_server", {"--port", "0"}, {}, 10s);
    GTEST_SKIP() << refused.error;
  }
};

bool matches(const std::string& text, const char* pattern) {
  return std::regex_search(text, std::regex(pattern));
}

// The number after "KEY: " in echo_load's report; -1 without one.
long field_of(const std::string& text, const std::string& key) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.starts_with(key + ": ")) return std::stol(line.substr(key.size() + 2));
  }
  return -1;
}

TEST_F(UringEchoServerTest,
       OneWaitBringsBackSeveralCompletionsAndOneSubmissionCarriesSeveralRequests) {
  test_support::Server server("uring_echo_server", {"--trace"});
  std::vector<common::FileDescriptor> clients;
  for (int i = 0; i < 16; ++i) {
    clients.push_back(test_support::connect_to(server.port()));
    test_support::send_all(clients.back().get(), "hello\n");
    ASSERT_EQ(test_support::receive_exactly(clients.back().get(), 6), "hello\n");
  }
  // All sixteen send before any reads: while the loop serves one, the others'
  // data comes, and a wait finds several receives done. How many, timing decides.
  bool batched = false;
  for (int round = 0; round < 200 && !batched; ++round) {
    for (const common::FileDescriptor& client : clients)
      test_support::send_all(client.get(), "ping\n");
    for (const common::FileDescriptor& client : clients)
      ASSERT_EQ(test_support::receive_exactly(client.get(), 5), "ping\n");
    const std::string narration = server.program().error_output();
    batched = matches(narration, "the wait brought back ([2-9]|[1-9][0-9]+) completion") &&
              matches(narration, "submitting ([2-9]|[1-9][0-9]+) request");
  }
  EXPECT_TRUE(batched) << server.program().error_output().substr(0, 4000);
  EXPECT_EQ(server.stop(), 0);
}

// Clients that each knock (an echo of "knock\n") until the server, short of
// descriptors, turns one away; those it served.
std::vector<common::FileDescriptor> knock_until_one_is_turned_away(std::uint16_t port) {
  std::vector<common::FileDescriptor> served;
  for (int i = 0; i < 32; ++i) {
    common::FileDescriptor client = test_support::connect_to(port);
    test_support::send_all(client.get(), "knock\n");
    if (test_support::receive_exactly(client.get(), 6) != "knock\n") return served;
    served.push_back(std::move(client));
  }
  ADD_FAILURE() << "32 clients were all served";
  return served;
}

// Out of descriptors, the kernel's accept fails at once, whether a client
// waits or not. Submitting it again at once would spin, turning nobody away
// or everybody; the server waits for a client instead, and turns that one
// away, once.
TEST_F(UringEchoServerTest, OutOfDescriptorsItTurnsEachClientAwayOnceAndDoesNotSpin) {
  test_support::Server server("uring_echo_server", {}, {.limit = 32});
  const std::vector<common::FileDescriptor> served = knock_until_one_is_turned_away(server.port());
  ASSERT_FALSE(served.empty());
  // Some turns later, when the others have been served again:
  for (const common::FileDescriptor& client : served) {
    test_support::send_all(client.get(), "still\n");
    ASSERT_EQ(test_support::receive_exactly(client.get(), 6), "still\n");
  }
  ASSERT_EQ(server.stop(), 0);
  const std::string errors = server.program().error_output();
  int turned_away = 0;
  for (std::size_t at = errors.find("turning a client away"); at != std::string::npos;
       at = errors.find("turning a client away", at + 1))
    ++turned_away;
  EXPECT_EQ(turned_away, 1) << errors.substr(0, 2000);
}

// A client's task that ends frees its socket then and there, not at the end
// of the turn: a newcomer whose arrival the same wait brought back finds
// the descriptor free. (The server is paused while one client leaves and the
// newcomer comes, so that one wait brings back both.)
TEST_F(UringEchoServerTest, ADescriptorFreedInATurnServesANewcomerInThatTurn) {
  test_support::Server server("uring_echo_server", {}, {.limit = 32});
  std::vector<common::FileDescriptor> served = knock_until_one_is_turned_away(server.port());
  ASSERT_FALSE(served.empty());
  ASSERT_TRUE(server.program().reaches_state('S'));
  server.program().send_signal(SIGSTOP);
  ASSERT_TRUE(server.program().reaches_state('T'));
  served.pop_back();  // it leaves
  const common::FileDescriptor newcomer = test_support::connect_to(server.port());
  test_support::send_all(newcomer.get(), "room for me?\n");
  server.program().send_signal(SIGCONT);
  EXPECT_EQ(test_support::receive_exactly(newcomer.get(), 13), "room for me?\n");
  EXPECT_EQ(server.stop(), 0);
}

// strace counts the system calls of a running process from when it attaches
// until it is interrupted (SIGINT), then writes its table.
class SystemCallCount {
 public:
  explicit SystemCallCount(pid_t pid)
      : table_(testing::TempDir() + "strace." + std::to_string(getpid()) + ".txt") {
    const std::string pid_text = std::to_string(pid);
    int errors[2];
    if (pipe2(errors, O_CLOEXEC) < 0) return;
    strace_ = fork();
    if (strace_ == 0) {
      dup2(errors[1], STDERR_FILENO);
      execlp("strace", "strace", "-c", "-f", "-o", table_.c_str(), "-p", pid_text.c_str(),
             static_cast<char*>(nullptr));
      _exit(127);
    }
    close(errors[1]);
    const common::FileDescriptor messages(errors[0]);
    // "strace: Process N attached", or a line saying why not.
    const Clock::time_point deadline = Clock::now() + 10s;
    std::array<char, 512> chunk;
    while (Clock::now() < deadline && why_not_.find("attached") == std::string::npos &&
           test_support::wait_readable(messages.get(), 1s)) {
      const ssize_t count = read(messages.get(), chunk.data(), chunk.size());
      if (count <= 0) break;
      why_not_.append(chunk.data(), static_cast<std::size_t>(count));
    }
    if (why_not_.find("attached") != std::string::npos) why_not_.clear();
    if (why_not_.empty() && strace_ < 0) why_not_ = "fork failed";
  }
  ~SystemCallCount() {
    if (strace_ > 0) {
      kill(strace_, SIGKILL);
      waitpid(strace_, nullptr, 0);
    }
    std::remove(table_.c_str());
  }

  // Empty once strace has attached; else what it said.
  const std::string& why_not() const { return why_not_; }

  // Stops strace and reads the "total" line of its table: the number of calls.
  long total() {
    kill(strace_, SIGINT);
    int status = 0;
    waitpid(std::exchange(strace_, -1), &status, 0);
    std::ifstream table(table_);
    std::string line;
    while (std::getline(table, line)) {
      std::istringstream words(line);
      std::vector<std::string> fields{std::istream_iterator<std::string>(words), {}};
      if (fields.size() >= 5 && fields.back() == "total") return std::stol(fields[3]);
    }
    return -1;
  }

 private:
  std::string table_;
  pid_t strace_ = -1;
  std::string why_not_ = "strace did not start";
};

// Readiness servers make about two system calls per echo (recv, send) and a
// share of epoll_wait(); here one io_uring_enter() carries many of each.
TEST_F(UringEchoServerTest, MakesAtMostHalfASystemCallPerEchoAt64BusyConnections) {
  test_support::Server server("uring_echo_server");
  SystemCallCount count(server.program().pid());
  if (!count.why_not().empty()) GTEST_SKIP() << "strace cannot count: " << count.why_not();
  // The count of messages ends the run; --duration-ms is only its limit,
  // 2 s by default, which a busy machine under strace may not meet.
  const test_support::Finished load = test_support::run_program(
      "echo_load",
      {"--port", std::to_string(server.port()), "--connections", "64", "--size", "64", "--messages",
       "32000", "--timeout-ms", "30000", "--duration-ms", "90000"},
      {}, 120s);
  ASSERT_EQ(load.exit_code, 0) << load.error;
  const long messages = field_of(load.output, "messages");
  const long calls = count.total();
  ASSERT_GT(messages, 0) << load.output;
  ASSERT_GT(calls, 0);
  EXPECT_LE(static_cast<double>(calls) / static_cast<double>(messages), 0.5)
      << calls << " system calls for " << messages << " echoes";
  EXPECT_EQ(server.stop(), 0);
}

// Docker's default seccomp profile, for one: without_io_uring refuses the
// three io_uring calls with EPERM, as it does.
TEST(UringEchoServerRefusedTest, WhereIoUringIsRefusedItSaysWhyInOneLineAndExitsWithOne) {
  const test_support::Finished finished = test_support::run_program(
      "without_io_uring", {test_support::program_path("uring_echo_server"), "--port", "0"}, {},
      10s);
  ASSERT_NE(finished.exit_code, 127) << finished.error;  // the filter could not be installed
  EXPECT_EQ(finished.exit_code, 1);
  EXPECT_EQ(std::ranges::count(finished.error, '\n'), 1) << finished.error;
  EXPECT_THAT(finished.error,
              HasSubstr("uring_echo_server: io_uring_setup: Operation not permitted: "));
  EXPECT_THAT(finished.error, HasSubstr("sysctl kernel.io_uring_disabled"));
  EXPECT_EQ(finished.output, "");  // no "listening on": it serves no one
}

// This suite, run again where io_uring is refused: its cases skip, each
// saying why, and the run passes.
TEST(UringEchoServerRefusedTest, WhereIoUringIsRefusedTheseTestsSkipSayingWhy) {
  echo_servers::expect_each_skipped_without_io_uring("UringEchoServerTest.*",
                                                     "io_uring_setup: Operation not permitted");
}

}  // namespace
