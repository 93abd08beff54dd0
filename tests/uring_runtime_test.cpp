// Lesson 7's runtime (7_io_uring/runtime/), in this process: what its loop
// submits and brings back in one turn, who owns a buffer until its
// completion, short sends, timers, and the tracks that --trace and
// --timeline show each task on. Skipped, saying why, where io_uring is refused.

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <regex>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "7_io_uring/runtime/runtime.hpp"
#include "common/net.hpp"
#include "observer/observer.hpp"
#include "tests/echo_servers.hpp"
#include "tests/program.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using lesson7::Task;

class UringRuntimeTest : public echo_servers::IoUringTest {};

// What --trace says while `body` runs.
template <typename Body>
std::string narration_of(Body body) {
  observer::start(true, "");
  testing::internal::CaptureStderr();
  body();
  observer::stop();
  return testing::internal::GetCapturedStderr();
}

int count_matches(const std::string& text, const std::regex& pattern) {
  return static_cast<int>(std::distance(std::sregex_iterator(text.begin(), text.end(), pattern),
                                        std::sregex_iterator()));
}

// Reads once into a buffer in its own frame, and keeps what came.
Task<void> read_once(lesson7::Socket socket, std::string& received) {
  std::array<char, 64> buffer;
  const std::size_t count = co_await lesson7::read_some(socket, buffer);
  received.assign(buffer.data(), count);
}

Task<void> pause(std::chrono::milliseconds duration) {
  co_await lesson7::sleep(duration);
}

Task<void> sleep_then_note(std::chrono::milliseconds duration, std::vector<int>& order, int name) {
  co_await lesson7::sleep(duration);
  order.push_back(name);
}

Task<void> write_everything(const lesson7::Socket& socket, std::span<const char> bytes) {
  co_await lesson7::write_all(socket, bytes);
}

Task<void> fail_after_a_moment() {
  co_await lesson7::sleep(1ms);
  throw std::runtime_error("boom");
}

TEST_F(UringRuntimeTest,
       OneSubmissionCarriesEveryRequestOfATurnAndOneWaitBringsBackEveryCompletion) {
  std::vector<test_support::SocketPair> pairs;
  std::vector<std::string> received(3);
  const std::string narration = narration_of([&] {
    lesson7::EventLoop loop;
    std::vector<Task<void>> readers;
    for (int i = 0; i < 3; ++i) {
      pairs.push_back(test_support::make_socket_pair());
      test_support::send_all(pairs.back().theirs.get(), "message " + std::to_string(i));
      readers.push_back(read_once(lesson7::Socket(std::move(pairs.back().ours)),
                                  received[static_cast<std::size_t>(i)]));
    }
    loop.run_until_complete(lesson7::gather(std::move(readers)));
  });
  EXPECT_THAT(received, testing::ElementsAre("message 0", "message 1", "message 2"));
  // The three receives and the loop's watch on the stop signal go in one
  // call; the data was there, so the one wait brings back all three.
  EXPECT_EQ(count_matches(narration, std::regex("io_uring_submit_and_wait\\(\\)")), 1) << narration;
  EXPECT_THAT(narration, testing::HasSubstr("submitting 4 request(s)"));
  EXPECT_THAT(narration, testing::HasSubstr("the wait brought back 3 completion(s)"));
}

// The kernel writes into the buffer of a receive whenever data comes, until
// the receive's completion. A task destroyed before then must not take the
// buffer with it: its frame cancels the receive and waits for the
// completion. Without that the kernel would also keep the socket open after
// close(), and its peer would never see the end of the stream.
TEST_F(UringRuntimeTest, ATaskDestroyedWhileItsReadIsInFlightCancelsItBeforeItsBufferAndSocketGo) {
  test_support::SocketPair pair = test_support::make_socket_pair();
  lesson7::EventLoop loop;
  std::string received;
  std::optional<Task<void>> reader(read_once(lesson7::Socket(std::move(pair.ours)), received));
  reader->start();
  loop.run_until_complete(pause(20ms));  // a turn: the receive is in flight
  reader.reset();                        // the frame, its buffer and its socket go

  ASSERT_TRUE(test_support::wait_readable(pair.theirs.get(), 5s)) << "the socket is still open";
  char byte;
  EXPECT_EQ(recv(pair.theirs.get(), &byte, 1, MSG_DONTWAIT), 0);
  // Data now has nowhere to go; under AddressSanitizer, a write into the
  // freed frame or a completion for it would be reported.
  send(pair.theirs.get(), "late", 4, MSG_NOSIGNAL);
  loop.run_until_complete(pause(20ms));
  EXPECT_EQ(received, "");
}

// A listener on a free port of 127.0.0.1, and that port.
std::pair<lesson7::Socket, std::uint16_t> make_listener() {
  lesson7::Socket listener(common::listen_tcp("127.0.0.1", 0));
  common::set_nonblocking(listener.get());
  const std::uint16_t port = test_support::port_of(listener.get());
  return {std::move(listener), port};
}

Task<void> accept_one(const lesson7::Socket& listener) {
  const lesson7::Socket client = co_await lesson7::accept(listener);
}

// The result a cancelled request may still bring back, as "its result if it
// finished first", can be a descriptor: the kernel accepted a client just
// before the cancel. The frame that is going closes it; its peer sees the end.
TEST_F(UringRuntimeTest, AClientAcceptedJustBeforeItsAcceptIsCancelledIsClosedNotLeaked) {
  lesson7::EventLoop loop;
  const auto [listener, port] = make_listener();
  std::optional<Task<void>> acceptor(accept_one(listener));
  acceptor->start();
  loop.run_until_complete(pause(20ms));  // a turn: the accept is in flight
  const common::FileDescriptor client = test_support::connect_to(port);  // the kernel accepts it
  acceptor.reset();
  ASSERT_TRUE(test_support::wait_readable(client.get(), 5s)) << "the accepted socket stays open";
  char byte;
  EXPECT_EQ(recv(client.get(), &byte, 1, MSG_DONTWAIT), 0);
}

// Reads once, then destroys `other`, a task whose completion came in the
// same wait and has not resumed it yet.
Task<void> read_then_destroy(lesson7::Socket socket, std::optional<Task<void>>& other) {
  std::array<char, 8> buffer;
  co_await lesson7::read_some(socket, buffer);
  other.reset();
}

// An accept that completed, but whose task is destroyed before it resumes,
// holds a client nobody will take: the frame that is going closes it.
TEST_F(UringRuntimeTest, AClientAcceptedForATaskDestroyedBeforeItResumesIsClosedNotLeaked) {
  lesson7::EventLoop loop;
  const auto [listener, port] = make_listener();
  test_support::SocketPair pair = test_support::make_socket_pair();
  std::optional<Task<void>> acceptor(accept_one(listener));
  acceptor->start();
  Task<void> reader = read_then_destroy(lesson7::Socket(std::move(pair.ours)), acceptor);
  reader.start();
  loop.run_until_complete(pause(20ms));  // a turn: the receive and the accept are in flight
  test_support::send_all(pair.theirs.get(), "x");  // completes the receive, first,
  const common::FileDescriptor client = test_support::connect_to(port);  // then the accept
  const std::string narration =
      narration_of([&] { loop.run_until_complete(std::move(reader)); });  // one wait, both
  EXPECT_FALSE(acceptor.has_value());
  EXPECT_THAT(narration, testing::HasSubstr("the wait brought back 2 completion(s)"));
  EXPECT_THAT(narration, testing::Not(testing::HasSubstr("accept cancelled")));  // it had come
  ASSERT_TRUE(test_support::wait_readable(client.get(), 5s)) << "the accepted socket stays open";
  char byte;
  EXPECT_EQ(recv(client.get(), &byte, 1, MSG_DONTWAIT), 0);
}

TEST_F(UringRuntimeTest, ATaskDestroyedWhileItSleepsCancelsItsTimeoutAtOnce) {
  lesson7::EventLoop loop;
  std::vector<int> order;
  std::optional<Task<void>> sleeper(sleep_then_note(60s, order, 1));
  sleeper->start();
  loop.run_until_complete(pause(10ms));
  const Clock::time_point before = Clock::now();
  sleeper.reset();
  EXPECT_LT(Clock::now() - before, 10s);
  EXPECT_TRUE(order.empty());
}

TEST_F(UringRuntimeTest, SleepsEndInTheOrderOfTheirDeadlines) {
  lesson7::EventLoop loop;
  std::vector<int> order;
  loop.run_until_complete(lesson7::gather(sleep_then_note(60ms, order, 3),
                                          sleep_then_note(20ms, order, 1),
                                          sleep_then_note(40ms, order, 2)));
  EXPECT_THAT(order, testing::ElementsAre(1, 2, 3));
}

// --- the stop signal ----------------------------------------------------------

// Each child runs this program afresh: a forked one would share this
// process's stop pipe, once a loop here made it (--gtest_repeat).
class UringRuntimeDeathTest : public UringRuntimeTest {
 protected:
  UringRuntimeDeathTest() { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

// Raises a stop signal, then destroys `other`, whose receive is in flight:
// the signal's completion comes back in the wait that cancel() makes.
Task<void> raise_then_destroy(std::optional<Task<void>>& other) {
  co_await lesson7::sleep(1ms);
  std::raise(SIGTERM);
  other.reset();
}

// In a child process, as the stop pipe stays readable once a signal came.
void stop_with_a_cancel_in_the_same_turn() {
  lesson7::EventLoop loop;
  test_support::SocketPair pair = test_support::make_socket_pair();
  std::string received;
  std::optional<Task<void>> reader(read_once(lesson7::Socket(std::move(pair.ours)), received));
  reader->start();
  const Clock::time_point start = Clock::now();
  try {
    loop.run_until_complete(lesson7::gather(raise_then_destroy(reader), pause(10s)));
  } catch (const lesson7::Stopped&) {
    std::exit(Clock::now() - start < 5s ? 0 : 1);  // 1: it waited for the sleep to end
  }
  std::exit(2);
}

// The loop's next wait must not wait for a completion that may never come:
// the stop's own came already.
TEST_F(UringRuntimeDeathTest, AStopThatComesBackInTheWaitOfACancelStopsTheLoopAtOnce) {
  EXPECT_EXIT(stop_with_a_cancel_in_the_same_turn(), testing::ExitedWithCode(0), "");
}

// io_uring may end a receive or a send with -EAGAIN although nobody asked
// for MSG_DONTWAIT: under load the kernel stops retrying a socket that woke
// it for nothing. That means "wait", as in lesson 6, and -EINTR "retry": the
// request goes in again, and its task is not told of a failure. (The
// kernel's -EAGAIN is rare; here it is handed to each as the loop would.)
TEST_F(UringRuntimeTest, AReceiveOrSendThatCompletesWithEagainOrEintrIsSubmittedAgain) {
  lesson7::EventLoop loop;
  test_support::SocketPair pair = test_support::make_socket_pair();
  const lesson7::Socket socket(std::move(pair.ours));
  std::array<char, 8> buffer{};
  for (const int result : {-EAGAIN, -EINTR}) {
    lesson7::ReadSome receive = lesson7::read_some(socket, buffer);
    lesson7::WriteAll send = lesson7::write_all(socket, std::string_view("x"));
    const std::string narration = narration_of([&] {
      EXPECT_FALSE(static_cast<lesson7::Operation&>(receive).completed(result)) << result;
      EXPECT_FALSE(static_cast<lesson7::Operation&>(send).completed(result)) << result;
    });
    EXPECT_THAT(narration, testing::HasSubstr("recv submitted"));
    EXPECT_THAT(narration, testing::HasSubstr("send submitted"));
  }  // each goes, cancelling the request it submitted again
}

// --- where the ring cannot be made ---------------------------------------------

// In a child process, whose descriptors it uses up. The loop it makes first
// lets UndefinedBehaviorSanitizer meet the loop's classes while it still has
// the descriptors it needs to check them.
void make_a_loop_with_no_descriptor_left() {
  { const lesson7::EventLoop first; }
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) < 0) std::exit(3);
  limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, 64);
  if (setrlimit(RLIMIT_NOFILE, &limit) < 0) std::exit(3);
  std::vector<common::FileDescriptor> taken;
  for (common::FileDescriptor fd(open("/dev/null", O_RDONLY | O_CLOEXEC)); fd;
       fd = common::FileDescriptor(open("/dev/null", O_RDONLY | O_CLOEXEC)))
    taken.push_back(std::move(fd));
  try {
    const lesson7::EventLoop loop;
  } catch (const std::runtime_error& error) {
    taken.clear();  // the sanitizer's check of the call of what() needs some too
    std::cerr << error.what() << std::endl;
    std::exit(1);
  }
  std::exit(0);
}

// The ring is a descriptor too. With none left, the one line says that, and
// how to check, rather than that io_uring is missing.
TEST_F(UringRuntimeDeathTest, WithNoDescriptorLeftForTheRingTheLoopSaysSoAndHowToCheck) {
  EXPECT_EXIT(make_a_loop_with_no_descriptor_left(), testing::ExitedWithCode(1),
              "io_uring_setup: Too many open files: no descriptor is left for the ring "
              ".check: ulimit -n; sysctl fs.file-max.");
}

// A stream socket takes what fits in its buffer: the kernel completes the
// send with a part of it, and write_all submits the rest only then, so the
// bytes keep their order.
TEST_F(UringRuntimeTest, WriteAllSendsEveryByteInOrderThroughShortSends) {
  test_support::SocketPair pair = test_support::make_socket_pair();
  std::string bytes(4 * 1024 * 1024, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = static_cast<char>(i * 7 + i / 4096);
  std::string echoed;
  std::thread reader(
      [&] { echoed = test_support::receive_exactly(pair.theirs.get(), bytes.size(), 60s); });
  const std::string narration = narration_of([&] {
    lesson7::EventLoop loop;
    const lesson7::Socket socket(std::move(pair.ours));
    loop.run_until_complete(write_everything(socket, bytes));
  });
  reader.join();
  EXPECT_TRUE(echoed == bytes) << echoed.size() << " of " << bytes.size()
                               << " bytes came, or in another order";
  EXPECT_GE(count_matches(narration, std::regex("sent [0-9]+ bytes, [1-9][0-9]* still to send")),
            1);
}

TEST_F(UringRuntimeTest, ASpawnedTaskThatThrowsIsReportedAndTheLoopGoesOn) {
  lesson7::EventLoop loop;
  testing::internal::CaptureStderr();
  lesson7::spawn(fail_after_a_moment());
  std::vector<int> order;
  loop.run_until_complete(sleep_then_note(30ms, order, 1));
  EXPECT_THAT(testing::internal::GetCapturedStderr(), testing::HasSubstr("boom"));
  EXPECT_THAT(order, testing::ElementsAre(1));
}

// --- what --trace and --timeline show each task on ---------------------------

std::string name_of(observer::Track track) {
  if (lesson7::is_the_loops(track)) return "loop";
  return std::string(track.noun) + " " + std::to_string(track.number);
}

Task<void> note_tracks_around_a_sleep(std::vector<std::string>& tracks) {
  tracks.push_back(name_of(lesson7::running_track));
  co_await lesson7::sleep(1ms);
  tracks.push_back(name_of(lesson7::running_track));
}

Task<void> gather_two_noting_tracks(std::vector<std::string>& tracks) {
  tracks.push_back(name_of(lesson7::running_track));
  co_await lesson7::gather(note_tracks_around_a_sleep(tracks), note_tracks_around_a_sleep(tracks));
  tracks.push_back(name_of(lesson7::running_track));
}

// Lesson 6's gather() gives each task a track of its own; lesson 7's loop
// resumes each task on it when its timeout completes, as lesson 6's does.
TEST_F(UringRuntimeTest, GatherGivesEachTaskATrackOfItsOwnOnWhichItsTimeoutResumesIt) {
  std::vector<std::string> tracks;
  const std::string narration = narration_of([&] {
    lesson7::EventLoop loop;
    loop.run_until_complete(gather_two_noting_tracks(tracks));
  });
  EXPECT_TRUE(lesson7::is_the_loops(lesson7::running_track));  // between tasks
  ASSERT_EQ(tracks.size(), 6u);
  ASSERT_THAT(tracks[1], testing::StartsWith("task "));
  const long first = std::stol(tracks[1].substr(5));
  const std::string one = "task " + std::to_string(first);
  const std::string two = "task " + std::to_string(first + 1);
  EXPECT_THAT(tracks, testing::ElementsAre("loop", one, two, one, two, "loop"));
  // What each submitted, and which task each completion resumed.
  for (const std::string& task : {one, two}) {
    EXPECT_THAT(narration, testing::HasSubstr(task + ": timeout submitted\n"));
    EXPECT_THAT(narration, testing::HasSubstr(task + ": timeout completed: resuming its task\n"));
  }
}

Task<void> read_noting_tracks(const lesson7::Socket& socket, std::vector<std::string>& tracks) {
  tracks.push_back(name_of(lesson7::running_track));
  std::array<char, 8> buffer{};
  co_await lesson7::read_some(socket, buffer);
  tracks.push_back(name_of(lesson7::running_track));
  co_await lesson7::sleep(1ms);
  tracks.push_back(name_of(lesson7::running_track));
}

Task<void> spawn_a_reader_noting_tracks(const lesson7::Socket& socket, int peer,
                                        std::vector<std::string>& tracks) {
  lesson7::spawn(read_noting_tracks(socket, tracks));
  tracks.push_back(name_of(lesson7::running_track));  // the spawner's, again
  test_support::send_all(peer, "hello");
  for (int i = 0; i < 5000 && tracks.size() < 4; ++i)
    co_await lesson7::sleep(1ms);
}

// A connection's task, spawned as it is accepted, starts on the loop's
// track, as in lesson 6, and is shown on its connection's track from its
// first operation on the socket: its runs, its reads, and its sleeps too.
TEST_F(UringRuntimeTest, ASpawnedTaskStartsOnTheLoopsTrackAndMovesToItsSocketsTrack) {
  test_support::SocketPair pair = test_support::make_socket_pair();
  const std::string socket_track = "fd " + std::to_string(pair.ours.get());
  std::vector<std::string> tracks;
  {
    lesson7::EventLoop loop;
    const lesson7::Socket socket(std::move(pair.ours));
    // gather() gives the spawner a track of its own, "task N".
    loop.run_until_complete(
        lesson7::gather(spawn_a_reader_noting_tracks(socket, pair.theirs.get(), tracks)));
  }
  ASSERT_EQ(tracks.size(), 4u);
  EXPECT_THAT(tracks, testing::ElementsAre("loop", testing::StartsWith("task "), socket_track,
                                           socket_track));
}

}  // namespace
