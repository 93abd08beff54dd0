// --timeline FILE on the echo servers: lesson 1's file shows the second
// connection served only after the first closed, lesson 3's shows two
// connections served in turns, lessons 4 and 5 show each connection's task
// run, read, wait to write and write, lesson 6's shows the runtime resume a
// connection's task when its socket is ready, lesson 7's when its operation
// completes, several after one wait; every server leaves a complete
// file when it is stopped, and a file it cannot create is one line and exit
// code 1. Then lesson 6's other programs: async_await's two tasks take turns
// between their sleeps, image_server's connections wait out the latency (or
// hang up), and image_downloader's images follow one another in sync mode
// and overlap in async mode, unless --max-parallel queues them.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <csignal>
#include <initializer_list>
#include <limits>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "common/net.hpp"
#include "tests/echo_servers.hpp"
#include "tests/image_checks.hpp"
#include "tests/image_downloader_fixture.hpp"
#include "tests/program.hpp"
#include "tests/trace_file.hpp"

namespace {

using namespace std::chrono_literals;
using test_support::connect_to;
using test_support::mark_names;
using test_support::marks_of;
using test_support::nanosecond;
using test_support::receive_exactly;
using test_support::send_all;
using test_support::TemporaryFile;
using test_support::TraceEvent;
using test_support::TraceFile;
using testing::ElementsAre;
using testing::HasSubstr;
using testing::StartsWith;

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

// Hangs up, and waits until the server says that the connection closed.
void hang_up(test_support::Server& server, common::FileDescriptor& client) {
  const std::string name = common::local_name(client.get());
  client.reset();
  wait_for_line(server.program(), "connection from " + name + " closed");
}

// Two clients take turns: the first echoes messages[0], then the second
// connects and echoes messages[1], the first messages[2], and so on. Then
// each hangs up in turn, and the server is stopped.
void two_clients_take_turns(test_support::Server& server,
                            const std::vector<std::string_view>& messages) {
  auto first = connect_to(server.port());
  echo(first, messages[0]);
  auto second = connect_to(server.port());
  for (std::size_t i = 1; i < messages.size(); ++i)
    echo(i % 2 == 0 ? first : second, messages[i]);
  hang_up(server, first);
  hang_up(server, second);
  ASSERT_EQ(server.stop(), 0) << server.program().error_output();
}

// Sends without reading until the server's --trace output matches
// `waits_to_write` (1000 rounds at most, each waiting at most 10 ms for room
// to send), then reads all of it back, shuts its sending side down, and stops
// the server once it has said that the connection closed.
void send_until_it_waits_to_write(test_support::Server& server, const std::regex& waits_to_write) {
  auto client = connect_to(server.port());
  const std::string client_name = common::local_name(client.get());
  const std::string block(64 * 1024, 'x');
  std::size_t sent = 0;
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
}

// The stories one after the other.
std::vector<std::string> joined(std::initializer_list<std::vector<std::string>> stories) {
  std::vector<std::string> all;
  for (const std::vector<std::string>& story : stories)
    all.insert(all.end(), story.begin(), story.end());
  return all;
}

std::vector<TraceEvent> marks_named(const std::vector<TraceEvent>& events, std::string_view name) {
  std::vector<TraceEvent> found;
  for (const TraceEvent& event : events) {
    if (event.phase == 'i' && event.name == name) found.push_back(event);
  }
  return found;
}

// A track's events in time order, each as its name and what it said without
// the track's own name in front ("fd 9: ", "task 1: "): "run: prints 3".
std::vector<std::string> told(const std::vector<TraceEvent>& events) {
  std::vector<std::string> story;
  for (const TraceEvent& event : events) {
    const std::size_t colon = event.narration.find(": ");
    story.push_back(colon == std::string::npos
                        ? event.name
                        : event.name + ": " + event.narration.substr(colon + 2));
  }
  return story;
}

TEST(BlockingServerTimelineTest, TheSecondConnectionIsServedOnlyAfterTheFirstClosed) {
  const TemporaryFile file;
  test_support::Server server("blocking_echo_server", {"--timeline", file.path()});
  auto first = connect_to(server.port());
  echo(first, "one\n");
  auto second = connect_to(server.port());
  send_all(second.get(), "two\n");  // queued: the server is busy with the first
  echo(first, "three\n");
  first.reset();
  EXPECT_EQ(receive_exactly(second.get(), 4), "two\n");
  hang_up(server, second);
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
  // (The thread's row is "server": it runs no loop.)
  const double first_closed = marks_named(one, "close").at(0).start_us;
  const double second_opened = marks_named(two, "open").at(0).start_us;
  EXPECT_GT(second_opened, first_closed);
  const double first_opened = marks_named(one, "open").at(0).start_us;
  int waits_while_serving = 0;
  for (const TraceEvent& wait : trace.events_on(trace.track("server"))) {
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
  ASSERT_NO_FATAL_FAILURE(two_clients_take_turns(server, {"one\n", "two\n", "three\n", "four\n"}));

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
  // Registered, and after each echo, the connection waits, and says for
  // what: to read (again).
  const std::string callback = "run: ready to read, running its callback";
  EXPECT_THAT(told(one),
              ElementsAre("open: accepted", "wait", "wait: registered: waits to read", callback,
                          "read: received 4 bytes", "write: sent 4 bytes, 0 still to send",
                          "wait: waits to read", callback, "read: received 6 bytes",
                          "write: sent 6 bytes, 0 still to send", "wait: waits to read", callback,
                          "read: the peer closed the connection", "close: unregistered"));

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
  // And the loop's waits say what woke them. (Its marks named "wait" are the
  // stop pipe and the listener, registered.)
  int woken_by_a_callback = 0;
  for (const TraceEvent& wait : trace.events_on(trace.track("loop"))) {
    if (wait.name != "wait" || wait.phase != 'X') continue;
    EXPECT_THAT(wait.narration, StartsWith("Selector::select(): waiting"));
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

// Lessons 4 and 5 run the same Scheduler: the Selector runs its callback
// when a client's socket is ready, which makes the task runnable; the task
// runs, reads, waits to write (let through at once), writes, and waits to
// read again.
class TaskServerTimelineTest : public testing::TestWithParam<std::string> {};

TEST_P(TaskServerTimelineTest,
       EachConnectionsTaskRunsBeforeEachReadAndWaitsToWriteBeforeEachWrite) {
  const TemporaryFile file;
  test_support::Server server(GetParam(), {"--timeline", file.path()});
  ASSERT_NO_FATAL_FAILURE(two_clients_take_turns(server, {"one\n", "two\n", "three\n"}));

  const TraceFile trace = test_support::read_trace_file(file.path());
  const std::vector<int> tracks = trace.connection_tracks();
  ASSERT_EQ(tracks.size(), 2u);
  // Until its task first waits, the scheduler does not know its socket: that
  // first run is the loop's, and the connection waits without saying for
  // what. Then the socket is registered with the Selector, and the task waits.
  const std::vector<std::string> opening = {"open", "wait", "wait: waits to read",
                                            "wait: waits to read"};
  const std::vector<std::string> woken = {"run", "wait", "run"};
  const std::vector<std::string> echo = joined(
      {woken,
       {"read", "wait: waits to write: queued again at once, as a socket is nearly always writable",
        "run", "write", "wait: waits to read"}});
  const std::vector<std::string> closing = joined({woken, {"read", "note", "close"}});
  EXPECT_EQ(story_of(trace.events_on(tracks[0])), joined({opening, echo, echo, closing}));
  EXPECT_EQ(story_of(trace.events_on(tracks[1])), joined({opening, echo, closing}));

  // A ready socket runs the Selector's callback, which queues its task
  // again; every other run is the task resumed. Each read and write says how
  // much, and the task finishes before its socket is unregistered.
  for (const int track : tracks) {
    const std::vector<TraceEvent> events = trace.events_on(track);
    for (const TraceEvent& event : events) {
      if (event.name == "run") {
        EXPECT_THAT(event.narration, testing::MatchesRegex("fd [0-9]+: (ready to read, running its "
                                                           "callback|running task [0-9]+)"));
      } else if (event.name == "wait" && event.narration.find("waits to") == std::string::npos) {
        // Before its first wait the task had not named its socket: no narration.
        EXPECT_THAT(event.narration,
                    testing::MatchesRegex("(fd [0-9]+: task [0-9]+ can run: queued again)?"));
      }
    }
    EXPECT_THAT(marks_named(events, "read").at(0).narration, HasSubstr("received 4 bytes"));
    EXPECT_THAT(marks_named(events, "write").at(0).narration, HasSubstr("sent 4 bytes"));
    EXPECT_THAT(marks_named(events, "note").back().narration, testing::EndsWith(" finished"));
    EXPECT_THAT(marks_named(events, "close").at(0).narration, testing::EndsWith(" unregistered"));
  }
  // The loop waits in Selector::select() and says what woke it: a socket
  // ready, whose callback makes a task runnable.
  int woken_for_a_task = 0;
  for (const TraceEvent& wait : trace.events_on(trace.track("loop"))) {
    if (wait.name != "wait" || wait.phase != 'X') continue;
    EXPECT_THAT(wait.narration, StartsWith("Selector::select(): waiting on "));
    if (wait.woken_by.ends_with("ready to read, running its callback")) ++woken_for_a_task;
  }
  EXPECT_GE(woken_for_a_task, 7);  // two accepts, three messages, two ends
}

// Backpressure: the task's send() finds the socket full, and only then does
// its wait to write go through the Selector, for as long as the client
// does not read.
TEST_P(TaskServerTimelineTest, AClientThatDoesNotReadMakesItsTaskWaitToWriteUntilItReads) {
  const TemporaryFile file;
  test_support::Server server(GetParam(), {"--trace", "--timeline", file.path()});
  // A trace line that ends there: not the wait let through at once.
  ASSERT_NO_FATAL_FAILURE(
      send_until_it_waits_to_write(server, std::regex("task [0-9]+ waits to write\n")));

  const TraceFile trace = test_support::read_trace_file(file.path());
  const std::vector<TraceEvent> events = trace.events_on(trace.connection_tracks().at(0));
  // The task's wait that lasted until the client read: then the Selector ran
  // its callback, and the task ran again, and wrote.
  const auto waited = std::ranges::find_if(events, [](const TraceEvent& event) {
    return event.name == "wait" &&
           std::regex_search(event.narration, std::regex("task [0-9]+ waits to write$"));
  });
  ASSERT_NE(waited, events.end());
  const auto run = std::ranges::find_if(waited + 1, events.end(),
                                        [](const TraceEvent& event) { return event.phase == 'X'; });
  ASSERT_NE(run, events.end());
  EXPECT_EQ(run->name, "run");
  EXPECT_EQ(run->narration.substr(run->narration.find(": ") + 2),
            "ready to write, running its callback");
  EXPECT_NEAR(run->start_us, waited->end_us(), nanosecond);
  const auto task_run = std::ranges::find_if(run + 1, events.end(), [](const TraceEvent& event) {
    return event.name == "run" || event.name == "write";
  });
  ASSERT_NE(task_run, events.end());
  EXPECT_EQ(task_run->name, "run");
  ASSERT_NE(task_run + 1, events.end());
  EXPECT_EQ((task_run + 1)->name, "write");
}

INSTANTIATE_TEST_SUITE_P(Lessons4And5, TaskServerTimelineTest,
                         testing::Values("generator_echo_server", "coroutine_echo_server"),
                         [](const testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

// Lesson 6: the runtime resumes a connection's task when its socket is ready;
// the task reads, writes it all back, and waits for the socket again.
TEST(AsyncEchoServerTimelineTest, TheLoopResumesEachConnectionsTaskWhenItsSocketIsReady) {
  const TemporaryFile file;
  test_support::Server server("async_echo_server", {"--timeline", file.path()});
  ASSERT_NO_FATAL_FAILURE(two_clients_take_turns(server, {"one\n", "two\n", "three\n"}));

  const TraceFile trace = test_support::read_trace_file(file.path());
  const std::vector<int> tracks = trace.connection_tracks();
  ASSERT_EQ(tracks.size(), 2u);
  // Accepted, the task is spawned and scheduled to start: until it waits
  // on its socket, the connection waits without saying for what. Then, before
  // its next wait, the loop registers the socket for what its task waits for.
  const std::vector<std::string> opening = {"open: accepted", "wait",
                                            "wait: a task waits until it is readable",
                                            "wait: registered: waits to read"};
  // Each time the socket is ready, the loop's callback makes the task's
  // recv() and resumes it; the task sends it all back, and waits to read
  // again: the registration stays as it is.
  const std::string callback = "run: ready to read, running its callback";
  const auto echo_of = [&callback](std::size_t bytes) {
    const std::string size = std::to_string(bytes);
    return std::vector<std::string>{callback, "read: received " + size + " bytes",
                                    "note: resuming its task",
                                    "write: sent " + size + " bytes, 0 still to send",
                                    "wait: a task waits until it is readable"};
  };
  const std::vector<std::string> closing = {callback, "read: the peer closed the connection",
                                            "note: resuming its task", "close: closing"};
  EXPECT_EQ(told(trace.events_on(tracks[0])), joined({opening, echo_of(4), echo_of(6), closing}));
  EXPECT_EQ(told(trace.events_on(tracks[1])), joined({opening, echo_of(4), closing}));

  // The loop blocks in lesson 3's Selector, with no timer to bound the wait
  // (or none at all, when a spawned task is to start), and says what woke it:
  // a socket whose callback it ran. Three messages, two ends and the second
  // accept; the first client may be there before the loop first waits.
  int woken_for_a_task = 0;
  for (const TraceEvent& wait : trace.events_on(trace.track("loop"))) {
    if (wait.name != "wait" || wait.phase != 'X') continue;
    EXPECT_THAT(wait.narration, StartsWith("Selector::select(): waiting on "));
    EXPECT_THAT(wait.narration, testing::AnyOf(testing::Not(HasSubstr(" at most ")),
                                               testing::EndsWith(" at most 0 ms")));
    if (wait.woken_by.ends_with("ready to read, running its callback")) ++woken_for_a_task;
  }
  EXPECT_GE(woken_for_a_task, 6);
}

// Backpressure in lesson 6: write_all() meets a full socket, and only then
// does the task wait for the socket to turn writable. The loop registers the
// socket for writing alone, as long as the client does not read.
TEST(AsyncEchoServerTimelineTest, AClientThatDoesNotReadMakesItsTaskWaitUntilItsSocketIsWritable) {
  const TemporaryFile file;
  test_support::Server server("async_echo_server", {"--trace", "--timeline", file.path()});
  ASSERT_NO_FATAL_FAILURE(
      send_until_it_waits_to_write(server, std::regex("a task waits until it is writable\n")));

  const TraceFile trace = test_support::read_trace_file(file.path());
  const std::vector<TraceEvent> events = trace.events_on(trace.connection_tracks().at(0));
  const auto waited = std::ranges::find_if(events, [](const TraceEvent& event) {
    return event.name == "wait" && event.narration.ends_with("waits until it is writable");
  });
  ASSERT_NE(waited, events.end());
  const auto run = std::ranges::find_if(
      waited + 1, events.end(), [](const TraceEvent& event) { return event.name == "run"; });
  ASSERT_NE(run, events.end());
  EXPECT_THAT(run->narration, testing::EndsWith("ready to write, running its callback"));
  // Until then the connection waited, registered to write and nothing else.
  const auto registered = std::prev(run);
  EXPECT_EQ(registered->name, "wait");
  EXPECT_THAT(registered->narration, testing::EndsWith(": waits to write"));
  EXPECT_NEAR(run->start_us, registered->end_us(), nanosecond);
  EXPECT_THAT(told(std::vector<TraceEvent>(run, events.end())),
              testing::Contains("note: resuming its task"));
  EXPECT_THAT(mark_names(std::vector<TraceEvent>(run, events.end())), testing::Contains("write"));
}

// Lesson 7's cases, where the kernel allows io_uring; skipped, saying why,
// where it does not.
class UringEchoServerTimelineTest : public echo_servers::IoUringTest {};

// Lesson 7: each connection's task submits its operation and the loop
// resumes it when the kernel has completed it; the task reads, submits a
// send of it all, and once that completes, its next receive.
TEST_F(UringEchoServerTimelineTest, TheLoopResumesEachConnectionsTaskWhenItsOperationCompletes) {
  const TemporaryFile file;
  test_support::Server server("uring_echo_server", {"--timeline", file.path()});
  ASSERT_NO_FATAL_FAILURE(two_clients_take_turns(server, {"one\n", "two\n", "three\n"}));

  const TraceFile trace = test_support::read_trace_file(file.path());
  const std::vector<int> tracks = trace.connection_tracks();
  ASSERT_EQ(tracks.size(), 2u);
  // Accepted, its task is spawned and runs at once, up to the receive it
  // submits: until then, the connection waits without saying for what.
  const std::vector<std::string> opening = {"open: accepted", "wait", "wait: recv submitted"};
  const auto echo_of = [](std::size_t bytes) {
    const std::string size = std::to_string(bytes);
    return std::vector<std::string>{"run: recv completed: resuming its task",
                                    "read: received " + size + " bytes",
                                    "wait: send submitted",
                                    "run: send completed: resuming its task",
                                    "write: sent " + size + " bytes, 0 still to send",
                                    "wait: recv submitted"};
  };
  const std::vector<std::string> closing = {"run: recv completed: resuming its task",
                                            "read: the peer closed the connection",
                                            "close: closing"};
  EXPECT_EQ(told(trace.events_on(tracks[0])), joined({opening, echo_of(4), echo_of(6), closing}));
  EXPECT_EQ(told(trace.events_on(tracks[1])), joined({opening, echo_of(4), closing}));

  // The loop blocks in io_uring_submit_and_wait(), which says what it
  // submitted, and is woken by the completions it brought back: two accepts,
  // three receives and three sends, two ends, one a wait at least.
  static const std::regex submits(
      "io_uring_submit_and_wait\\(\\): submitting [0-9]+ request\\(s\\), waiting for a completion");
  static const std::regex brought_back("the wait brought back [1-9][0-9]* completion\\(s\\)");
  int woken = 0;
  for (const TraceEvent& wait : trace.events_on(trace.track("loop"))) {
    if (wait.name != "wait" || wait.phase != 'X') continue;
    EXPECT_TRUE(std::regex_match(wait.narration, submits)) << wait.narration;
    if (std::regex_match(wait.woken_by, brought_back)) ++woken;
  }
  EXPECT_GE(woken, 5);
}

// The picture on lesson 7's page: three lines come while the server is
// paused, so one wait brings back the three receives, and the loop resumes
// the three tasks in turn before it waits again; their three sends then go
// to the kernel in one call and come back in one wait.
TEST_F(UringEchoServerTimelineTest, OneWaitBringsBackThreeCompletionsAndTheLoopResumesEachTask) {
  const TemporaryFile file;
  test_support::Server server("uring_echo_server", {"--timeline", file.path()});
  std::vector<common::FileDescriptor> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(connect_to(server.port()));
    echo(clients.back(), "hello\n");
  }
  // Asleep in its wait, every receive submitted; then paused, so that the
  // three lines are there, all three, when it goes on.
  ASSERT_TRUE(server.program().reaches_state('S'));
  server.program().send_signal(SIGSTOP);
  ASSERT_TRUE(server.program().reaches_state('T'));
  for (int i = 0; i < 3; ++i)
    send_all(clients[i].get(), "line " + std::to_string(i) + "\n");
  server.program().send_signal(SIGCONT);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(receive_exactly(clients[i].get(), 7), "line " + std::to_string(i) + "\n");
  for (common::FileDescriptor& client : clients)
    hang_up(server, client);
  ASSERT_EQ(server.stop(), 0) << server.program().error_output();

  const TraceFile trace = test_support::read_trace_file(file.path());
  std::vector<TraceEvent> waits;
  for (const TraceEvent& event : trace.events_on(trace.track("loop"))) {
    if (event.name == "wait" && event.phase == 'X') waits.push_back(event);
  }
  const auto three =
      std::ranges::find(waits, "the wait brought back 3 completion(s)", &TraceEvent::woken_by);
  ASSERT_NE(three, waits.end());
  ASSERT_NE(three + 1, waits.end());
  // Between that wait and the next, each connection's task was resumed with
  // its receive, and read its line.
  for (const int track : trace.connection_tracks()) {
    std::vector<std::string> turn;
    for (const TraceEvent& event : trace.events_on(track)) {
      if (event.start_us >= three->end_us() && event.start_us < (three + 1)->start_us &&
          event.name != "wait")
        turn.push_back(told({event}).front());
    }
    EXPECT_THAT(turn,
                ElementsAre("run: recv completed: resuming its task", "read: received 7 bytes"))
        << trace.track_names.at(track);
  }
  // The next turn's one call submits the three sends, and its wait brings
  // back the three completions.
  EXPECT_THAT((three + 1)->narration, HasSubstr("submitting 3 request(s)"));
  EXPECT_EQ((three + 1)->woken_by, "the wait brought back 3 completion(s)");
}

// Where io_uring is refused, lesson 7's cases skip, saying why; the run passes.
TEST(IoUringRefusedTest, LessonSevensCasesSkipSayingWhy) {
  echo_servers::expect_each_skipped_without_io_uring(
      "*/uring_echo_server:UringEchoServerTimelineTest.*",
      "io_uring_setup: Operation not permitted");
}

// The thread's own track: "loop", but lesson 1's thread runs no loop.
std::string thread_track(const std::string& program) {
  return program == "blocking_echo_server" ? "server" : "loop";
}

class EveryServerTimelineTest : public echo_servers::EachServerTest {
 protected:
  std::vector<std::string> arguments(const std::vector<std::string>& more) const {
    std::vector<std::string> all = GetParam().extra_arguments;
    all.insert(all.end(), more.begin(), more.end());
    return all;
  }
};

TEST_P(EveryServerTimelineTest, AServerStoppedBySigtermSigintOrSighupLeavesACompleteFile) {
  const test_support::SighupDisposition as_a_terminal_does(SIG_DFL);
  for (const int signal_number : {SIGTERM, SIGINT, SIGHUP}) {
    const TemporaryFile file;
    test_support::Server server(GetParam().program, arguments({"--timeline", file.path()}));
    const auto client = connect_to(server.port());
    echo(client, "hello\n");
    server.program().send_signal(signal_number);
    ASSERT_EQ(server.program().wait_for_exit(), 0) << server.program().error_output();
    EXPECT_EQ(server.program().error_output(), "");  // --timeline alone narrates nothing

    const TraceFile trace = test_support::read_trace_file(file.path());  // throws if invalid
    EXPECT_EQ(trace.process_name, GetParam().program);
    EXPECT_FALSE(trace.events_on(trace.track(thread_track(GetParam().program))).empty());
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

// ---- Lesson 6's other programs ----

// Lesson 6's other programs say it in one line too, before any output: a
// server prints no "listening on" when it will not serve.
class OtherProgramTimelineTest : public testing::TestWithParam<std::vector<std::string>> {
 protected:
  test_support::Finished run_with(const std::string& timeline) const {
    std::vector<std::string> arguments(GetParam().begin() + 1, GetParam().end());
    arguments.insert(arguments.end(), {"--timeline", timeline});
    return test_support::run_program(GetParam().front(), arguments);
  }
};

TEST_P(OtherProgramTimelineTest, AFileThatCannotBeCreatedIsOneLineAndExitCodeOne) {
  const std::string path = testing::TempDir() + "no such folder/timeline.json";
  const test_support::Finished finished = run_with(path);
  EXPECT_EQ(finished.exit_code, 1);
  EXPECT_EQ(finished.output, "");
  EXPECT_EQ(std::ranges::count(finished.error, '\n'), 1) << finished.error;
  EXPECT_THAT(finished.error, HasSubstr(path));
}

TEST_P(OtherProgramTimelineTest, AnEmptyTimelinePathIsABadArgument) {
  const test_support::Finished finished = run_with("");
  EXPECT_EQ(finished.exit_code, 2);
  EXPECT_THAT(finished.error, HasSubstr("--timeline"));
  EXPECT_EQ(finished.output, "");
}

INSTANTIATE_TEST_SUITE_P(
    Lesson6, OtherProgramTimelineTest,
    testing::Values(std::vector<std::string>{"image_server", "--port", "0"},
                    std::vector<std::string>{"async_await", "--tick-ms", "1", "--ticks", "1"},
                    std::vector<std::string>{"image_downloader", "--url",
                                             "http://127.0.0.1:9/image", "--count", "1", "--out",
                                             testing::TempDir() + "timeline_images"}),
    [](const testing::TestParamInfo<std::vector<std::string>>& info) {
      return info.param.front();
    });

// async_await: gather() gives each task a track of its own, on which it runs
// to print and waits while it sleeps; one task runs while the other sleeps.
TEST(AsyncAwaitTimelineTest, EachTaskRunsToPrintAndWaitsWhileItSleeps) {
  const TemporaryFile file;
  const test_support::Finished finished = test_support::run_program(
      "async_await", {"--tick-ms", "20", "--ticks", "7", "--timeline", file.path()});
  ASSERT_EQ(finished.exit_code, 0) << finished.error;
  EXPECT_EQ(finished.error, "");

  const TraceFile trace = test_support::read_trace_file(file.path());
  EXPECT_EQ(trace.process_name, "async_await");
  const int nums = trace.track("task 1");  // print_nums(), started first
  const int time = trace.track("task 2");  // print_time()
  const std::vector<std::string> start = {"open: gather() starts it", "wait",
                                          "run: runs until it first waits"};
  std::vector<std::string> nums_story = start;
  for (int num = 1; num < 7; ++num) {
    nums_story.push_back("wait: sleeps 20 ms");
    nums_story.push_back("run: its 20 ms are up");
  }
  nums_story.push_back("close: ends");
  EXPECT_EQ(told(trace.events_on(nums)), nums_story);
  std::vector<std::string> time_story = start;
  for (int count = 3; count < 7; count += 3) {
    time_story.push_back("wait: sleeps 60 ms");
    time_story.push_back("run: its 60 ms are up");
  }
  time_story.push_back("close: ends");
  EXPECT_EQ(told(trace.events_on(time)), time_story);

  // Each run prints one line: in time order, the runs of both tasks are the
  // program's lines, a number for task 1 and a seconds line for task 2.
  std::string printed_by;
  for (const TraceEvent& event : trace.events) {
    if (event.name == "run" && (event.track == nums || event.track == time))
      printed_by += event.track == nums ? "number\n" : "seconds\n";
  }
  std::string lines;
  for (std::size_t at = 0; at < finished.output.size();) {
    const std::size_t end = finished.output.find('\n', at);
    const std::string line = finished.output.substr(at, end - at);
    lines += line.ends_with(" seconds passed.") ? "seconds\n" : "number\n";
    at = end + 1;
  }
  EXPECT_EQ(printed_by, lines);

  // While print_time() sleeps its first three ticks, print_nums() runs twice
  // (it prints 1 and 2).
  const std::vector<TraceEvent> time_events = trace.events_on(time);
  const auto first_sleep =
      std::ranges::find(time_events, "wait: sleeps 60 ms",
                        [](const TraceEvent& event) { return told({event}).front(); });
  ASSERT_NE(first_sleep, time_events.end());
  EXPECT_EQ(std::ranges::count_if(trace.events_on(nums),
                                  [&](const TraceEvent& event) {
                                    return event.name == "run" &&
                                           event.start_us > first_sleep->start_us &&
                                           event.end_us() < first_sleep->end_us();
                                  }),
            2);

  // The loop waits in lesson 3's Selector until the next timer, and the timer wakes it.
  int woken_by_a_timer = 0;
  for (const TraceEvent& wait : trace.events_on(trace.track("loop"))) {
    if (wait.name != "wait" || wait.phase != 'X') continue;
    EXPECT_THAT(wait.narration, StartsWith("Selector::select(): waiting on "));
    EXPECT_THAT(wait.narration, HasSubstr(" descriptors, at most "));
    if (wait.woken_by == "a timer is due: running it") ++woken_by_a_timer;
  }
  EXPECT_GE(woken_by_a_timer, 6);  // ticks 1 to 6
}

TEST(AsyncAwaitTimelineTest, StoppedBySigtermItLeavesACompleteFile) {
  const TemporaryFile file;
  test_support::Program program("async_await", {"--tick-ms", "10", "--timeline", file.path()});
  for (const char* line : {"0", "0 seconds passed.", "1"}) {
    ASSERT_EQ(program.read_line(), line);
  }
  program.send_signal(SIGTERM);
  ASSERT_EQ(program.wait_for_exit(), 0) << program.error_output();

  const TraceFile trace = test_support::read_trace_file(file.path());  // throws if invalid
  // Task 1 ran to print 0, and woken by its timer to print 1; task 2 to print
  // its first line.
  EXPECT_THAT(told(trace.events_on(trace.track("task 1"))),
              testing::Contains("run: its 10 ms are up"));
  EXPECT_THAT(told(trace.events_on(trace.track("task 2"))),
              testing::Contains("run: runs until it first waits"));
}

// SIGHUP, which a closing terminal sends, is a stop like SIGTERM.
TEST(AsyncAwaitTimelineTest, StoppedBySighupItLeavesACompleteFile) {
  const test_support::SighupDisposition as_a_terminal_does(SIG_DFL);
  const TemporaryFile file;
  test_support::Program program("async_await", {"--tick-ms", "10", "--timeline", file.path()});
  ASSERT_EQ(program.read_line(), "0");
  program.send_signal(SIGHUP);
  ASSERT_EQ(program.wait_for_exit(), 0) << program.error_output();
  EXPECT_EQ(test_support::read_trace_file(file.path()).process_name, "async_await");
}

// The marks of HTTP (support/http.*: the request line, the status sent, a
// hang-up) and of the waits (wait_for()'s limit), without those of the
// runtime's socket calls ("read: received 59 bytes", "note: resuming its
// task", "write: sent 3840 bytes, 0 still to send"...).
std::vector<TraceEvent> marks_beside_socket_calls(const std::vector<TraceEvent>& events) {
  static const std::regex socket_call(
      "read: (received [0-9]+ bytes|the peer closed the connection)|note: resuming its task|"
      "write: sent [0-9]+ bytes, [0-9]+ still to send");
  std::vector<TraceEvent> marks;
  for (const TraceEvent& mark : marks_of(events)) {
    if (!std::regex_match(told({mark}).front(), socket_call)) marks.push_back(mark);
  }
  return marks;
}

// image_server: a connection reads its request, waits out the latency while
// the runtime watches its socket, and sends the picture. The program says
// nothing itself: HTTP, wait_for() and the runtime tell it.
TEST(ImageServerTimelineTest, AConnectionWaitsOutTheLatencyThenSendsItsPicture) {
  const TemporaryFile file;
  test_support::Server server("image_server", {"--latency-ms", "100", "--timeline", file.path()});
  ASSERT_THAT(image_checks::http_get(server.port(), "/image"), StartsWith("HTTP/1.1 200 OK\r\n"));
  ASSERT_EQ(server.stop(), 0) << server.program().error_output();

  const TraceFile trace = test_support::read_trace_file(file.path());
  EXPECT_EQ(trace.process_name, "image_server");
  const std::vector<int> tracks = trace.connection_tracks();
  ASSERT_EQ(tracks.size(), 1u);
  const std::vector<TraceEvent> events = trace.events_on(tracks[0]);
  const std::vector<std::string> marks = told(marks_beside_socket_calls(events));
  ASSERT_EQ(marks.size(), 5u) << testing::PrintToString(marks);
  EXPECT_THAT(trace.track_names.at(tracks[0]), StartsWith("127.0.0.1:"));  // named after its peer
  EXPECT_EQ(marks[0], "open: accepted");
  EXPECT_EQ(marks[1], "read: GET /image HTTP/1.1");
  EXPECT_EQ(marks[2], "note: wait_for() gives its task 100 ms");
  EXPECT_THAT(marks[3], testing::MatchesRegex("write: sent HTTP/1.1 200 OK, [0-9]+ bytes"));
  EXPECT_EQ(marks[4], "close: closing");

  // The latency is a wait on the connection's track, which ends when the
  // timer resumes its task.
  const auto latency = std::ranges::find_if(events, [&](const TraceEvent& event) {
    return event.name == "wait" && event.start_us >= marks_beside_socket_calls(events)[2].start_us;
  });
  ASSERT_NE(latency, events.end());
  EXPECT_THAT(latency->narration, testing::EndsWith("a task waits until it is readable"));
  EXPECT_GE(latency->duration_us, 90'000);
  ASSERT_NE(latency + 1, events.end());
  EXPECT_THAT(told({*(latency + 1)}).front(), StartsWith("run: its 100 ms are up"));
}

TEST(ImageServerTimelineTest, AClientThatHangsUpWhileItsPictureWaitsGetsNoWrite) {
  const TemporaryFile file;
  test_support::Server server("image_server", {"--latency-ms", "60000", "--timeline", file.path()});
  const common::FileDescriptor client = connect_to(server.port());
  send_all(client.get(), "GET /image HTTP/1.1\r\n\r\n");
  ASSERT_EQ(shutdown(client.get(), SHUT_WR), 0);
  EXPECT_EQ(receive_exactly(client.get(), std::numeric_limits<std::size_t>::max()), "");
  ASSERT_EQ(server.stop(), 0) << server.program().error_output();

  const TraceFile trace = test_support::read_trace_file(file.path());
  const std::vector<std::string> marks =
      told(marks_beside_socket_calls(trace.events_on(trace.connection_tracks().at(0))));
  ASSERT_EQ(marks.size(), 5u) << testing::PrintToString(marks);
  EXPECT_EQ(marks[1], "read: GET /image HTTP/1.1");
  EXPECT_EQ(marks[2], "note: wait_for() gives its task 60000 ms");
  EXPECT_EQ(marks[3], "note: hung up");  // before its picture: no write came
  EXPECT_EQ(marks[4], "close: closing");
}

TEST(ImageServerTimelineTest, StoppedBySigtermWhileAPictureWaitsItLeavesACompleteFile) {
  const TemporaryFile file;
  test_support::Server server("image_server", {"--latency-ms", "60000", "--timeline", file.path()});
  const common::FileDescriptor client = connect_to(server.port());
  send_all(client.get(), "GET /image HTTP/1.1\r\n\r\n");
  ASSERT_EQ(image_checks::stat_once_it_is(server.port(), "in_flight", 1), 1);
  ASSERT_EQ(server.stop(), 0) << server.program().error_output();

  const TraceFile trace = test_support::read_trace_file(file.path());  // throws if invalid
  // The waiting client's connection, and the two that asked for /stats.
  ASSERT_GE(trace.connection_tracks().size(), 2u);
  for (const int track : trace.connection_tracks()) {
    EXPECT_EQ(mark_names(trace.events_on(track)).back(), "close") << trace.track_names.at(track);
  }
  EXPECT_THAT(told(trace.events_on(trace.connection_tracks().front())),
              testing::Contains("read: GET /image HTTP/1.1"));
}

// image_downloader: one track per image. Sync mode runs no task: each image
// is a track of its own, "image N", and the thread blocks for each in turn, so
// their tracks follow one another. Async mode's gather() starts a task per
// image, "task N", and their tracks overlap.
class DownloaderTimelineTest : public image_downloader_fixture::ImageDownloaderTest {
 protected:
  // The tracks whose names start with `noun` ("image "), in the order they opened.
  static std::vector<int> tracks_named(const TraceFile& trace, std::string_view noun) {
    std::vector<int> tracks;
    for (const auto& [id, name] : trace.track_names) {
      if (name.starts_with(noun)) tracks.push_back(id);
    }
    return tracks;
  }
  static double time_of(const TraceFile& trace, int track, std::string_view name) {
    const std::vector<TraceEvent> events = trace.events_on(track);
    const auto found = std::ranges::find(events, name, &TraceEvent::name);
    return found == events.end() ? -1 : found->start_us;
  }
  // When a task left the queue: the first run after its "queued" wait; -1 if none.
  static double time_queued_until(const TraceFile& trace, int track) {
    const std::vector<TraceEvent> events = trace.events_on(track);
    const auto queued = std::ranges::find_if(events, [](const TraceEvent& event) {
      return event.name == "wait" && event.narration.find(": queued ") != std::string::npos;
    });
    const auto run = std::find_if(queued, events.end(),
                                  [](const TraceEvent& event) { return event.name == "run"; });
    return run == events.end() ? -1 : run->start_us;
  }
};

TEST_F(DownloaderTimelineTest, SyncImagesFollowOneAnotherAndAsyncImagesOverlap) {
  test_support::Server server("image_server", {"--latency-ms", "200"});
  const TemporaryFile file;
  const test_support::Finished run =
      download({"--url", "http://127.0.0.1:" + std::to_string(server.port()) + "/image", "--count",
                "3", "--timeline", file.path()});
  ASSERT_EQ(run.exit_code, 0) << run.error;
  EXPECT_EQ(run.error, "");

  const TraceFile trace = test_support::read_trace_file(file.path());
  EXPECT_EQ(trace.process_name, "image_downloader");
  const std::vector<int> images = tracks_named(trace, "image ");  // sync
  const std::vector<int> tasks = tracks_named(trace, "task ");    // async
  ASSERT_EQ(images.size(), 3u);
  ASSERT_EQ(tasks.size(), 3u);
  EXPECT_LT(time_of(trace, images[2], "close"), time_of(trace, tasks[0], "open"));  // sync first
  for (int i = 0; i < 3; ++i) {
    const std::string number = std::to_string(i + 1);
    EXPECT_EQ(trace.track_names.at(images[i]), "image " + number);
    EXPECT_EQ(told(trace.events_on(images[i])),
              (std::vector<std::string>{"open: sync-0" + number, "wait", "close: saved"}));
    EXPECT_EQ(trace.track_names.at(tasks[i]), "task " + number);  // numbered as the images are
    EXPECT_EQ(told(trace.events_on(tasks[i])),
              (std::vector<std::string>{
                  "open: gather() starts it", "wait", "run: runs until it first waits",
                  "note: downloads async-0" + number,
                  "wait: sleeps in perform() until libcurl has done the transfer",
                  "run: resuming its task in its turn", "note: async-0" + number + ": saved",
                  "close: ends"}));
  }
  // Sync: each image opens after the one before it closed.
  for (int i = 0; i + 1 < 3; ++i) {
    EXPECT_GE(time_of(trace, images[i + 1], "open"), time_of(trace, images[i], "close"));
  }
  // Async: every transfer starts before any ends.
  double last_start = 0;
  double first_end = std::numeric_limits<double>::max();
  for (const int task : tasks) {
    last_start = std::max(last_start, time_of(trace, task, "run"));
    first_end = std::min(first_end, time_of(trace, task, "close"));
  }
  EXPECT_LT(last_start, first_end);

  // In sync mode the loop blocks in curl_easy_perform(), until its image is
  // saved; in async mode, it waits in the Selector (epoll_wait()).
  std::vector<std::string> loop_waits;
  for (const TraceEvent& wait : trace.events_on(trace.track("loop"))) {
    if (wait.name == "wait" && wait.phase == 'X') loop_waits.push_back(wait.narration);
  }
  ASSERT_GE(loop_waits.size(), 4u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(loop_waits[i], "blocking in curl_easy_perform() for image " + std::to_string(i + 1));
  }
  EXPECT_THAT(loop_waits[3], StartsWith("Selector::select(): "));
}

TEST_F(DownloaderTimelineTest, WithMaxParallelOneAsyncImagesWaitForASlotInTurn) {
  test_support::Server server("image_server", {"--latency-ms", "50"});
  const TemporaryFile file;
  const test_support::Finished run =
      download({"--url", "http://127.0.0.1:" + std::to_string(server.port()) + "/image", "--count",
                "3", "--mode", "async", "--max-parallel", "1", "--timeline", file.path()});
  ASSERT_EQ(run.exit_code, 0) << run.error;

  const TraceFile trace = test_support::read_trace_file(file.path());
  const std::vector<int> tasks = tracks_named(trace, "task ");
  ASSERT_EQ(tasks.size(), 3u);
  EXPECT_EQ(time_queued_until(trace, tasks[0]), -1);  // the first takes the slot at once
  for (int i = 0; i + 1 < 3; ++i) {
    // Queued from the start, it begins once the one before it has ended.
    EXPECT_THAT(told(trace.events_on(tasks[i + 1])),
                testing::Contains("wait: queued until the slot is free"));
    EXPECT_LT(time_of(trace, tasks[i + 1], "open"), time_of(trace, tasks[i], "close"));
    EXPECT_GE(time_queued_until(trace, tasks[i + 1]), time_of(trace, tasks[i], "close"));
  }
}

// Ctrl-C, SIGTERM, or SIGHUP from a terminal that closes: the file is
// complete all the same, and no hidden .part file is left.
class DownloaderStoppedTimelineTest
    : public image_downloader_fixture::ImageDownloaderTest,
      public testing::WithParamInterface<std::tuple<std::string, int>> {};

TEST_P(DownloaderStoppedTimelineTest, StoppedWhileImagesComeItLeavesACompleteFileAndNoPartFile) {
  test_support::Server server("image_server", {"--latency-ms", "60000"});
  const TemporaryFile file;
  const auto& [mode, signal_number] = GetParam();
  test_support::Program downloader(
      "image_downloader",
      {"--url", "http://127.0.0.1:" + std::to_string(server.port()) + "/image", "--count", "2",
       "--mode", mode, "--out", out().string(), "--timeline", file.path()});
  const long in_flight = mode == "sync" ? 1 : 2;
  ASSERT_EQ(image_checks::stat_once_it_is(server.port(), "in_flight", in_flight), in_flight);
  downloader.send_signal(signal_number);
  EXPECT_EQ(downloader.wait_for_exit(), 1);
  EXPECT_THAT(downloader.error_output(), HasSubstr("interrupted"));
  EXPECT_THAT(saved_files(), testing::IsEmpty());

  const TraceFile trace = test_support::read_trace_file(file.path());  // throws if invalid
  // Sync's image 1 is a track of its own; async's is gather()'s task 1.
  EXPECT_EQ(told(trace.events_on(trace.track(mode == "sync" ? "image 1" : "task 1"))).front(),
            mode == "sync" ? "open: sync-01" : "open: gather() starts it");
}

INSTANTIATE_TEST_SUITE_P(ModesAndSignals, DownloaderStoppedTimelineTest,
                         testing::Combine(testing::Values("sync", "async"),
                                          testing::Values(SIGINT, SIGTERM, SIGHUP)));

// SIGHUP, which a closing terminal sends, is a stop like SIGTERM: the image
// on its way leaves no partial file, and the timeline is complete.
TEST_F(DownloaderTimelineTest, StoppedBySighupWhileAnImageComesItLeavesNoPartialFile) {
  const test_support::SighupDisposition as_a_terminal_does(SIG_DFL);
  test_support::Server server("image_server", {"--latency-ms", "60000"});
  const TemporaryFile file;
  test_support::Program downloader(
      "image_downloader",
      {"--url", "http://127.0.0.1:" + std::to_string(server.port()) + "/image", "--count", "1",
       "--mode", "sync", "--out", out().string(), "--timeline", file.path()});
  ASSERT_EQ(image_checks::stat_once_it_is(server.port(), "in_flight", 1), 1);
  downloader.send_signal(SIGHUP);
  EXPECT_EQ(downloader.wait_for_exit(), 1) << downloader.error_output();
  for (const auto& [name, contents] : saved_files()) {
    EXPECT_FALSE(name.ends_with(".part")) << name;
  }
  EXPECT_EQ(test_support::read_trace_file(file.path()).process_name, "image_downloader");
}

}  // namespace
