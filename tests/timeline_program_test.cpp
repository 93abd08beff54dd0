// --timeline FILE on the echo servers: lesson 1's file shows the second
// connection served only after the first closed, lesson 3's shows two
// connections served in turns, lessons 4 and 5 show each connection's task
// run, read, wait to write and write; every server leaves a complete file
// when it is stopped, and a file it cannot create is one line and exit code 1.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.hpp"
#include "tests/echo_servers.hpp"
#include "tests/program.hpp"
#include "tests/trace_file.hpp"

namespace {

using namespace std::chrono_literals;
using echo_servers::EchoServer;
using test_support::connect_to;
using test_support::receive_exactly;
using test_support::send_all;
using test_support::TraceEvent;
using test_support::TraceFile;
using testing::ElementsAre;
using testing::HasSubstr;
using testing::StartsWith;

// Timestamps are microseconds with three decimals: two sums of them may
// differ in the last digit.
constexpr double nanosecond = 0.001;

// A file in the temporary folder, removed at the end. Its name is unique
// also among test processes that run at once.
class TemporaryFile {
 public:
  TemporaryFile()
      : path_(testing::TempDir() + "timeline_program_test_" + std::to_string(getpid()) + "_" +
              std::to_string(count_++) + ".json") {}
  ~TemporaryFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  static inline int count_ = 0;
  std::string path_;
};

// Echoes `text` through the connection; the echo is also proof that the
// server has read it.
void echo(const common::FileDescriptor& client, std::string_view text) {
  send_all(client.get(), text);
  ASSERT_EQ(receive_exactly(client.get(), text.size()), text);
}

// Reads the server's output until `line` (at most 20 lines, 10 s each), so
// that what it did before printing it is in its timeline.
void wait_for_line(test_support::Program& program, const std::string& line) {
  for (int i = 0; i < 20; ++i) {
    const std::optional<std::string> next = program.read_line();
    ASSERT_TRUE(next) << "no line '" << line << "'";
    if (*next == line) return;
  }
  FAIL() << "no line '" << line << "' in 20";
}

std::vector<TraceEvent> marks_named(const std::vector<TraceEvent>& events, std::string_view name) {
  std::vector<TraceEvent> found;
  for (const TraceEvent& event : events) {
    if (event.phase == 'i' && event.name == name) found.push_back(event);
  }
  return found;
}

std::vector<std::string> mark_names(const std::vector<TraceEvent>& events) {
  std::vector<std::string> names;
  for (const TraceEvent& event : events) {
    if (event.phase == 'i') names.push_back(event.name);
  }
  return names;
}

TEST(BlockingServerTimelineTest, TheSecondConnectionIsServedOnlyAfterTheFirstClosed) {
  const TemporaryFile file;
  test_support::Server server("blocking_echo_server", {"--timeline", file.path()});
  auto first = connect_to(server.port());
  const std::string first_name = common::local_name(first.get());
  echo(first, "one\n");
  auto second = connect_to(server.port());
  const std::string second_name = common::local_name(second.get());
  send_all(second.get(), "two\n");  // queued: the server is busy with the first
  echo(first, "three\n");
  first.reset();
  EXPECT_EQ(receive_exactly(second.get(), 4), "two\n");
  second.reset();
  wait_for_line(server.program(), "connection from " + second_name + " closed");
  ASSERT_EQ(server.stop(), 0) << server.program().error_output();

  const TraceFile trace = test_support::read_trace_file(file.path());
  EXPECT_EQ(trace.process_name, "blocking_echo_server");
  const std::vector<int> tracks = trace.connection_tracks();
  ASSERT_EQ(tracks.size(), 2u);
  const std::vector<TraceEvent> one = trace.events_on(tracks[0]);
  const std::vector<TraceEvent> two = trace.events_on(tracks[1]);
  EXPECT_THAT(mark_names(one), ElementsAre("open", "read", "write", "read", "write", "close"));
  EXPECT_THAT(mark_names(two), ElementsAre("open", "read", "write", "close"));
  EXPECT_THAT(marks_named(one, "read")[1].narration, HasSubstr("received 6 bytes"));

  // The point of lesson 1: the second connection begins after the first one
  // ended, and meanwhile the thread waited only on the first one's recv().
  const double first_closed = marks_named(one, "close").at(0).start_us;
  const double second_opened = marks_named(two, "open").at(0).start_us;
  EXPECT_GT(second_opened, first_closed);
  const double first_opened = marks_named(one, "open").at(0).start_us;
  int waits_while_serving = 0;
  for (const TraceEvent& wait : trace.events_on(trace.track("loop"))) {
    if (wait.name != "wait" || wait.start_us < first_opened || wait.start_us > first_closed) {
      continue;
    }
    ++waits_while_serving;
    EXPECT_THAT(wait.narration, StartsWith("blocking in recv()"));
  }
  EXPECT_EQ(waits_while_serving, 3);  // before "one", before "three", before the end
}

class CallbackServerTimelineTest : public testing::TestWithParam<std::string> {};

TEST_P(CallbackServerTimelineTest, TwoConnectionsAreServedInTurnsBetweenWaits) {
  const TemporaryFile file;
  test_support::Server server("callback_echo_server",
                              {"--backend", GetParam(), "--timeline", file.path()});
  auto first = connect_to(server.port());
  const std::string first_name = common::local_name(first.get());
  echo(first, "one\n");
  auto second = connect_to(server.port());
  const std::string second_name = common::local_name(second.get());
  echo(second, "two\n");
  echo(first, "three\n");
  echo(second, "four\n");
  first.reset();
  wait_for_line(server.program(), "connection from " + first_name + " closed");
  second.reset();
  wait_for_line(server.program(), "connection from " + second_name + " closed");
  ASSERT_EQ(server.stop(), 0) << server.program().error_output();

  const TraceFile trace = test_support::read_trace_file(file.path());
  const std::vector<int> tracks = trace.connection_tracks();
  ASSERT_EQ(tracks.size(), 2u);
  // Whose bytes the loop read, in time order: both connections, in turns,
  // while both were open.
  std::vector<int> readers;
  for (const TraceEvent& event : trace.events) {
    if (event.name == "read" && event.narration.find("received") != std::string::npos) {
      readers.push_back(event.track);
    }
  }
  EXPECT_THAT(readers, ElementsAre(tracks[0], tracks[1], tracks[0], tracks[1]));
  const std::vector<TraceEvent> one = trace.events_on(tracks[0]);
  const std::vector<TraceEvent> two = trace.events_on(tracks[1]);
  EXPECT_LT(marks_named(two, "open").at(0).start_us, marks_named(one, "close").at(0).start_us);
  // After each echo, a note says what the connection waits for next.
  EXPECT_THAT(mark_names(one), ElementsAre("open", "read", "write", "note", "read", "write", "note",
                                           "read", "close"));

  // Each read happens in a callback that the loop ran for that connection.
  for (const int track : tracks) {
    const std::vector<TraceEvent> events = trace.events_on(track);
    for (const TraceEvent& read : marks_named(events, "read")) {
      const auto run = std::ranges::find_if(events, [&](const TraceEvent& event) {
        return event.name == "run" && event.start_us <= read.start_us &&
               read.start_us <= event.end_us();
      });
      ASSERT_NE(run, events.end()) << read.narration;
      EXPECT_THAT(run->narration, HasSubstr("ready to read, running its callback"));
    }
  }
  // And the loop's waits say what woke them.
  int woken_by_a_callback = 0;
  for (const TraceEvent& wait : trace.events_on(trace.track("loop"))) {
    if (wait.name != "wait") continue;
    EXPECT_THAT(wait.narration, StartsWith("select(): waiting"));
    if (wait.woken_by.ends_with("running its callback")) ++woken_by_a_callback;
  }
  EXPECT_GE(woken_by_a_callback, 8);  // two accepts, four messages, two ends
}

INSTANTIATE_TEST_SUITE_P(Backends, CallbackServerTimelineTest, testing::Values("epoll", "poll"));

// What a connection's track shows, in time order: marks by name, runs, and
// waits with what they were for ("wait" alone before the task said so).
std::vector<std::string> story_of(const std::vector<TraceEvent>& events) {
  std::vector<std::string> story;
  for (const TraceEvent& event : events) {
    const std::size_t waits = event.narration.find("waits to ");
    if (event.name == "wait" && waits != std::string::npos) {
      story.push_back("wait: " + event.narration.substr(waits));
    } else {
      story.push_back(event.name);
    }
  }
  return story;
}

// Lessons 4 and 5 run the same Scheduler: a client's task runs when its
// socket is ready, reads, waits to write (let through at once), writes, and
// waits to read again.
class TaskServerTimelineTest : public testing::TestWithParam<std::string> {};

TEST_P(TaskServerTimelineTest,
       EachConnectionsTaskRunsBeforeEachReadAndWaitsToWriteBeforeEachWrite) {
  const TemporaryFile file;
  test_support::Server server(GetParam(), {"--timeline", file.path()});
  auto first = connect_to(server.port());
  const std::string first_name = common::local_name(first.get());
  echo(first, "one\n");
  auto second = connect_to(server.port());
  const std::string second_name = common::local_name(second.get());
  echo(second, "two\n");
  echo(first, "three\n");
  first.reset();
  wait_for_line(server.program(), "connection from " + first_name + " closed");
  second.reset();
  wait_for_line(server.program(), "connection from " + second_name + " closed");
  ASSERT_EQ(server.stop(), 0) << server.program().error_output();

  const TraceFile trace = test_support::read_trace_file(file.path());
  const std::vector<int> tracks = trace.connection_tracks();
  ASSERT_EQ(tracks.size(), 2u);
  // Until its task first waits, the scheduler does not know its socket: that
  // first run is the loop's, and the connection waits without saying for what.
  const std::vector<std::string> opening = {"open", "wait", "wait: waits to read"};
  const std::vector<std::string> echo = {
      "run",
      "read",
      "wait: waits to write: queued again at once, as a socket is nearly always writable",
      "run",
      "write",
      "wait: waits to read"};
  const std::vector<std::string> closing = {"run", "close"};
  std::vector<std::string> one = opening;
  for (int message = 0; message < 2; ++message)
    one.insert(one.end(), echo.begin(), echo.end());
  one.insert(one.end(), closing.begin(), closing.end());
  std::vector<std::string> two = opening;
  two.insert(two.end(), echo.begin(), echo.end());
  two.insert(two.end(), closing.begin(), closing.end());
  EXPECT_EQ(story_of(trace.events_on(tracks[0])), one);
  EXPECT_EQ(story_of(trace.events_on(tracks[1])), two);

  // Each run is the task resumed, and each read and write says how much.
  for (const int track : tracks) {
    const std::vector<TraceEvent> events = trace.events_on(track);
    for (const TraceEvent& event : events) {
      if (event.name != "run") continue;
      EXPECT_THAT(event.narration, testing::MatchesRegex("fd [0-9]+: running task [0-9]+"));
    }
    EXPECT_THAT(marks_named(events, "read").at(0).narration, HasSubstr("received 4 bytes"));
    EXPECT_THAT(marks_named(events, "write").at(0).narration, HasSubstr("sent 4 bytes back"));
    EXPECT_THAT(marks_named(events, "close").at(0).narration, testing::EndsWith(" finished"));
  }
  // The loop waits in select() and says what woke it: a task that can run.
  int woken_for_a_task = 0;
  for (const TraceEvent& wait : trace.events_on(trace.track("loop"))) {
    if (wait.name != "wait" || wait.phase != 'X') continue;
    EXPECT_EQ(wait.narration, "every task waits; select()");
    if (wait.woken_by.ends_with("can run")) ++woken_for_a_task;
  }
  EXPECT_GE(woken_for_a_task, 7);  // two accepts, three messages, two ends
}

// Backpressure: the task's send() finds the socket full, and only then does
// its wait to write go through the Selector, for as long as the client
// does not read.
TEST_P(TaskServerTimelineTest, AClientThatDoesNotReadMakesItsTaskWaitToWriteUntilItReads) {
  const TemporaryFile file;
  test_support::Server server(GetParam(), {"--trace", "--timeline", file.path()});
  auto client = connect_to(server.port());
  const std::string client_name = common::local_name(client.get());
  // Send without reading until the trace says that the task waits to write
  // (a line that ends there: not the wait let through at once). Each round
  // waits at most 10 ms for room to send.
  const std::string block(64 * 1024, 'x');
  std::size_t sent = 0;
  const std::regex waits_to_write("task [0-9]+ waits to write\n");
  for (int round = 0; round < 1000; ++round) {
    if (std::regex_search(server.program().error_output(), waits_to_write)) break;
    const ssize_t accepted = send(client.get(), block.data(), block.size(), MSG_DONTWAIT);
    if (accepted > 0) {
      sent += static_cast<std::size_t>(accepted);
      continue;
    }
    ASSERT_EQ(errno, EAGAIN);
    pollfd room{client.get(), POLLOUT, 0};
    poll(&room, 1, 10);
  }
  ASSERT_TRUE(std::regex_search(server.program().error_output(), waits_to_write));
  EXPECT_EQ(receive_exactly(client.get(), sent, 20s).size(), sent);
  ASSERT_EQ(shutdown(client.get(), SHUT_WR), 0);
  wait_for_line(server.program(), "connection from " + client_name + " closed");
  ASSERT_EQ(server.stop(), 0);

  const TraceFile trace = test_support::read_trace_file(file.path());
  const std::vector<TraceEvent> events = trace.events_on(trace.connection_tracks().at(0));
  // The wait that lasted until the client read: then the task ran, and wrote.
  const auto waited = std::ranges::find_if(events, [](const TraceEvent& event) {
    return event.name == "wait" && event.narration.ends_with(" waits to write");
  });
  ASSERT_NE(waited, events.end());
  const auto run = std::ranges::find_if(waited + 1, events.end(),
                                        [](const TraceEvent& event) { return event.phase == 'X'; });
  ASSERT_NE(run, events.end());
  EXPECT_EQ(run->name, "run");
  EXPECT_NEAR(run->start_us, waited->end_us(), nanosecond);
  ASSERT_NE(run + 1, events.end());
  EXPECT_EQ((run + 1)->name, "write");
}

INSTANTIATE_TEST_SUITE_P(Lessons4And5, TaskServerTimelineTest,
                         testing::Values("generator_echo_server", "coroutine_echo_server"),
                         [](const testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

class EveryServerTimelineTest : public testing::TestWithParam<EchoServer> {
 protected:
  std::vector<std::string> arguments(const std::vector<std::string>& more) const {
    std::vector<std::string> all = GetParam().extra_arguments;
    all.insert(all.end(), more.begin(), more.end());
    return all;
  }
};

TEST_P(EveryServerTimelineTest, AServerStoppedBySigtermOrSigintLeavesACompleteFile) {
  for (const int signal_number : {SIGTERM, SIGINT}) {
    const TemporaryFile file;
    test_support::Server server(GetParam().program, arguments({"--timeline", file.path()}));
    const auto client = connect_to(server.port());
    echo(client, "hello\n");
    server.program().send_signal(signal_number);
    ASSERT_EQ(server.program().wait_for_exit(), 0) << server.program().error_output();
    EXPECT_EQ(server.program().error_output(), "");  // --timeline alone narrates nothing

    const TraceFile trace = test_support::read_trace_file(file.path());  // throws if invalid
    EXPECT_EQ(trace.process_name, GetParam().program);
    EXPECT_FALSE(trace.events_on(trace.track("loop")).empty());
    // Every connection still open at the signal was closed, and said so.
    for (const int track : trace.connection_tracks()) {
      EXPECT_EQ(mark_names(trace.events_on(track)).back(), "close") << trace.track_names.at(track);
    }
  }
}

TEST_P(EveryServerTimelineTest, AFileThatCannotBeCreatedIsOneLineAndExitCodeOne) {
  const std::string path = testing::TempDir() + "no such folder/timeline.json";
  const test_support::Finished finished =
      test_support::run_program(GetParam().program, arguments({"--port", "0", "--timeline", path}));
  EXPECT_EQ(finished.exit_code, 1);
  EXPECT_EQ(std::ranges::count(finished.error, '\n'), 1) << finished.error;
  EXPECT_THAT(finished.error, HasSubstr(path));
  EXPECT_THAT(finished.error, HasSubstr("No such file or directory"));
}

TEST_P(EveryServerTimelineTest, AnEmptyTimelinePathIsABadArgument) {
  const test_support::Finished finished =
      test_support::run_program(GetParam().program, arguments({"--timeline", ""}));
  EXPECT_EQ(finished.exit_code, 2);
  EXPECT_THAT(finished.error, HasSubstr("--timeline"));
  EXPECT_EQ(finished.output, "");
}

INSTANTIATE_TEST_SUITE_P(EchoServers, EveryServerTimelineTest,
                         testing::ValuesIn(echo_servers::all()), echo_servers::test_name);

}  // namespace
