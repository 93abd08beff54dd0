// How every echo server starts and stops, as the contract says: the flags it
// takes and rejects, a port already in use, --help, --trace, and a clean exit
// on SIGTERM, SIGINT and SIGHUP. The servers are the list in tests/echo_servers.hpp.
// Then what only some of them do: lesson 2 refuses to start with descriptors
// select() cannot watch, and the traces of lessons 4 and 5 show a task waiting
// to write.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/select.h>

#include <algorithm>
#include <csignal>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.hpp"
#include "tests/echo_servers.hpp"
#include "tests/program.hpp"

namespace {

using namespace std::chrono_literals;
using test_support::connect_to;
using test_support::receive_exactly;
using test_support::send_all;
using testing::HasSubstr;

// The contract's "one clear line": one newline, at the end.
bool is_one_line(std::string_view text) {
  return !text.empty() && text.back() == '\n' && std::ranges::count(text, '\n') == 1;
}

class ServerStartAndStopTest : public echo_servers::EachServerTest {
 protected:
  // Runs the server to its end with its own arguments (such as --backend
  // poll) followed by `more`.
  test_support::Finished run(const std::vector<std::string>& more) const {
    return test_support::run_program(GetParam().program, with_own_arguments(more), {}, 30s);
  }

  test_support::Server start(const std::vector<std::string>& more = {}) const {
    return test_support::Server(GetParam().program, with_own_arguments(more));
  }

  // The signal must end the server with exit code 0 while one client is
  // being served and another is waiting (lesson 1) or served too (the others).
  void expect_exit_zero_on(int signal_number) {
    test_support::Server server = start();
    const auto served = connect_to(server.port());
    send_all(served.get(), "served\n");
    ASSERT_EQ(receive_exactly(served.get(), 7), "served\n");
    const auto other = connect_to(server.port());
    send_all(other.get(), "other\n");
    // Its echo proves that the server has accepted it too.
    if (GetParam().serves_clients_at_once) {
      ASSERT_EQ(receive_exactly(other.get(), 6), "other\n");
    }

    server.program().send_signal(signal_number);
    EXPECT_EQ(server.program().wait_for_exit(), 0) << server.program().error_output();
    // Every client it was serving is closed, and said so.
    const std::string output = server.program().read_remaining_output();
    EXPECT_THAT(output,
                HasSubstr("connection from " + common::local_name(served.get()) + " closed\n"));
    if (GetParam().serves_clients_at_once) {
      EXPECT_THAT(output,
                  HasSubstr("connection from " + common::local_name(other.get()) + " closed\n"));
    }
  }

 private:
  std::vector<std::string> with_own_arguments(const std::vector<std::string>& more) const {
    std::vector<std::string> arguments = GetParam().extra_arguments;
    arguments.insert(arguments.end(), more.begin(), more.end());
    return arguments;
  }
};

TEST_P(ServerStartAndStopTest, ExitsZeroOnSigtermWithClientsConnected) {
  expect_exit_zero_on(SIGTERM);
}

TEST_P(ServerStartAndStopTest, ExitsZeroOnSigintWithClientsConnected) {
  expect_exit_zero_on(SIGINT);
}

// SIGHUP is what a closing terminal sends.
TEST_P(ServerStartAndStopTest, ExitsZeroOnSighupWithClientsConnected) {
  const test_support::SighupDisposition as_a_terminal_does(SIG_DFL);
  expect_exit_zero_on(SIGHUP);
}

// Unless it came ignored: nohup starts a program so, to let it outlive its
// terminal.
TEST_P(ServerStartAndStopTest, KeepsServingAfterSighupWhenStartedWithItIgnoredAsNohupDoes) {
  const test_support::SighupDisposition as_nohup_does(SIG_IGN);
  test_support::Server server = start();
  const auto client = connect_to(server.port());
  send_all(client.get(), "before\n");
  ASSERT_EQ(receive_exactly(client.get(), 7), "before\n");
  server.program().send_signal(SIGHUP);
  // Two round trips: a loop that had stopped could still echo the first from
  // the batch it was handling when the signal came.
  send_all(client.get(), "after\n");
  EXPECT_EQ(receive_exactly(client.get(), 6), "after\n");
  send_all(client.get(), "still\n");
  EXPECT_EQ(receive_exactly(client.get(), 6), "still\n");
  EXPECT_EQ(server.stop(), 0) << server.program().error_output();
}

TEST_P(ServerStartAndStopTest, PortInUseGivesOneLineAndExitCodeOne) {
  const common::FileDescriptor taken = common::listen_tcp("127.0.0.1", 0);
  const std::string port = std::to_string(test_support::port_of(taken.get()));
  const test_support::Finished finished = run({"--port", port});
  EXPECT_EQ(finished.exit_code, 1);
  EXPECT_TRUE(is_one_line(finished.error)) << finished.error;
  EXPECT_THAT(finished.error, HasSubstr(port));
  EXPECT_EQ(finished.output, "");
}

TEST_P(ServerStartAndStopTest, UnknownFlagGivesOneLineAndExitCodeTwo) {
  const test_support::Finished finished = run({"--bogus"});
  EXPECT_EQ(finished.exit_code, 2);
  EXPECT_TRUE(is_one_line(finished.error)) << finished.error;
  EXPECT_THAT(finished.error, HasSubstr("--bogus"));
  EXPECT_EQ(finished.output, "");
}

TEST_P(ServerStartAndStopTest, BadPortValueGivesOneLineAndExitCodeTwo) {
  for (const std::string value : {"http", "65536", "-1", "", "80x", "99999999999999999999"}) {
    const test_support::Finished finished = run({"--port", value});
    EXPECT_EQ(finished.exit_code, 2) << "--port '" << value << "'";
    EXPECT_TRUE(is_one_line(finished.error)) << finished.error;
    EXPECT_THAT(finished.error, HasSubstr("--port"));
    EXPECT_EQ(finished.output, "");
  }
}

TEST_P(ServerStartAndStopTest, AHostThatIsNotAnIpv4AddressGivesOneLineAndExitCodeTwo) {
  const test_support::Finished finished = run({"--host", "localhost"});
  EXPECT_EQ(finished.exit_code, 2);
  EXPECT_TRUE(is_one_line(finished.error)) << finished.error;
  EXPECT_THAT(finished.error, HasSubstr("--host"));
  EXPECT_EQ(finished.output, "");
}

TEST_P(ServerStartAndStopTest, MissingPortValueGivesOneLineAndExitCodeTwo) {
  const test_support::Finished finished = run({"--port"});
  EXPECT_EQ(finished.exit_code, 2);
  EXPECT_TRUE(is_one_line(finished.error)) << finished.error;
  EXPECT_THAT(finished.error, HasSubstr("--port"));
  EXPECT_EQ(finished.output, "");
}

TEST_P(ServerStartAndStopTest, HelpNamesEveryFlagAndExitsZero) {
  const test_support::Finished finished = run({"--help"});
  EXPECT_EQ(finished.exit_code, 0);
  for (const std::string_view flag : {"--host", "--port", "--trace", "--help"})
    EXPECT_THAT(finished.output, HasSubstr(flag));
  for (const std::string& argument : GetParam().extra_arguments) {
    if (argument.starts_with("--")) {
      EXPECT_THAT(finished.output, HasSubstr(argument));
    }
  }
  EXPECT_EQ(finished.error, "");
}

TEST_P(ServerStartAndStopTest, TraceNarratesTheLoopOnStandardError) {
  test_support::Server server = start({"--trace"});
  const auto client = connect_to(server.port());
  send_all(client.get(), "watch me\n");
  ASSERT_EQ(receive_exactly(client.get(), 9), "watch me\n");
  ASSERT_EQ(server.stop(), 0);
  // At least a wait that ends in an accept and one that ends in a read.
  EXPECT_GE(std::ranges::count(server.program().error_output(), '\n'), 2);
}

TEST_P(ServerStartAndStopTest, StaysQuietOnStandardErrorWithoutTrace) {
  test_support::Server server = start();
  const auto client = connect_to(server.port());
  send_all(client.get(), "quiet\n");
  ASSERT_EQ(receive_exactly(client.get(), 6), "quiet\n");
  ASSERT_EQ(server.stop(), 0);
  EXPECT_EQ(server.program().error_output(), "");
}

INSTANTIATE_TEST_SUITE_P(EchoServers, ServerStartAndStopTest,
                         testing::ValuesIn(echo_servers::all()), echo_servers::test_name);

// select() cannot watch a descriptor at or beyond FD_SETSIZE. Started with
// that many descriptors open, lesson 2 gets its stop pipe and listener beyond
// it, and must say so rather than write outside its fd_sets.
TEST(SelectEchoServerStartTest, RefusesToStartWhenItsOwnDescriptorsAreBeyondWhatSelectCanWatch) {
  if (!test_support::descriptor_limit_allows(2 * FD_SETSIZE)) {
    GTEST_SKIP() << "the hard descriptor limit is low";
  }
  const test_support::Finished finished =
      test_support::run_program("select_echo_server", {"--port", "0"}, {}, 30s,
                                {.inherited = FD_SETSIZE + 6, .limit = 2 * FD_SETSIZE});
  EXPECT_EQ(finished.exit_code, 1);
  EXPECT_TRUE(is_one_line(finished.error)) << finished.error;
  EXPECT_THAT(finished.error, HasSubstr("select()"));
  EXPECT_EQ(finished.output, "");
}

// Lessons 4 and 5 wait to write before they send, as the course's client()
// does before each character: the trace of an ordinary exchange shows it.
class TaskTraceTest : public testing::TestWithParam<std::string> {};

TEST_P(TaskTraceTest, ShowsTheClientTaskWaitingToWriteInAnOrdinaryExchange) {
  test_support::Server server(GetParam(), {"--trace"});
  const auto client = connect_to(server.port());
  send_all(client.get(), "hello\n");
  ASSERT_EQ(receive_exactly(client.get(), 6), "hello\n");
  ASSERT_EQ(server.stop(), 0);
  EXPECT_THAT(server.program().error_output(),
              testing::ContainsRegex("fd [0-9]+: task [0-9]+ waits to write"));
}

INSTANTIATE_TEST_SUITE_P(Lessons4And5, TaskTraceTest,
                         testing::Values("generator_echo_server", "coroutine_echo_server"),
                         [](const testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
