// Lesson 6's runtime: Task, the event loop's timers and queues, spawn, gather,
// the stop at a signal, the socket awaitables, and wait_for.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "6_async_await/runtime/runtime.hpp"
#include "6_async_await/support/wait_for.hpp"
#include "common/net.hpp"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "observer/observer.hpp"
#include "tests/program.hpp"

namespace {

using namespace std::chrono_literals;
using lesson6::Task;
using test_support::port_of;
using testing::ElementsAre;
using testing::EndsWith;
using testing::HasSubstr;
using testing::StartsWith;

// Counts its live instances, to see that destroyed frames ran their destructors.
struct Counted {
  static inline int live = 0;
  Counted() { ++live; }
  Counted(const Counted&) { ++live; }
  Counted& operator=(const Counted&) = default;
  ~Counted() { --live; }
};

// Standard error, captured while it lives.
class CapturedStandardError {
 public:
  CapturedStandardError() : previous_(std::cerr.rdbuf(text_.rdbuf())) {}
  ~CapturedStandardError() { std::cerr.rdbuf(previous_); }
  CapturedStandardError(const CapturedStandardError&) = delete;
  CapturedStandardError& operator=(const CapturedStandardError&) = delete;
  std::string text() const { return text_.str(); }

 private:
  std::ostringstream text_;
  std::streambuf* previous_;
};

struct SocketPair {
  lesson6::Socket ours;
  lesson6::Socket theirs;
};

SocketPair make_socket_pair() {
  auto [ours, theirs] = test_support::make_socket_pair();
  return {lesson6::Socket(std::move(ours)), lesson6::Socket(std::move(theirs))};
}

lesson6::Socket make_listener() {
  lesson6::Socket listener(common::listen_tcp("127.0.0.1", 0));
  common::set_nonblocking(listener.get());
  return listener;
}

std::string text_of(std::span<const char> bytes) {
  return {bytes.data(), bytes.size()};
}

// Lets the loop run, a millisecond at a time, until `condition` holds or ten
// seconds have passed.
template <typename Condition>
Task<bool> wait_until(Condition condition) {
  for (int turn = 0; turn < 10'000 && !condition(); ++turn)
    co_await lesson6::sleep(1ms);
  co_return condition();
}

// Runs the loop until a timer set `delay` from now has run, and counts the
// turns: one for each time the loop found something to do, plus the last.
int turns_until_a_timer_runs(lesson6::EventLoop& loop, std::chrono::milliseconds delay) {
  bool timer_ran = false;
  loop.call_later(delay, [&timer_ran] { timer_ran = true; });
  int turns = 0;
  while (!timer_ran) {
    loop.run_once();
    ++turns;
  }
  return turns;
}

// --- Task -------------------------------------------------------------------

Task<int> forty_two() {
  co_return 42;
}

Task<int> fails() {
  throw std::runtime_error("it failed");
  co_return 0;
}

Task<int> add_one_to(Task<int> task) {
  co_return 1 + co_await std::move(task);
}

TEST(Task, AwaitingATaskGivesItsValue) {
  EXPECT_EQ(lesson6::run(add_one_to(forty_two())), 43);
}

TEST(Task, AwaitingATaskRethrowsTheExceptionThatEndedIt) {
  EXPECT_THROW(lesson6::run(add_one_to(fails())), std::runtime_error);
}

Task<int> await_twice(Task<int> task) {
  const int first = co_await task;
  try {
    co_await task;
  } catch (const std::logic_error&) {
    co_return first;
  }
  co_return -1;
}

TEST(Task, ItsResultCanBeTakenOnceOnly) {
  EXPECT_EQ(lesson6::run(await_twice(forty_two())), 42);
}

Task<int> one_later() {
  co_await lesson6::sleep(10ms);
  co_return 1;
}

Task<void> await_shared(Task<int>* task) {
  co_await *task;
}

Task<bool> two_await_one_task() {
  Task<int> slow = one_later();
  Task<void> first = await_shared(&slow);
  first.start();  // first now waits for slow
  bool turned_away = false;
  try {
    co_await await_shared(&slow);
  } catch (const std::logic_error&) {
    turned_away = true;
  }
  co_await first;
  co_return turned_away;
}

// A finished task hands its result to one awaiting coroutine: a second one
// that comes while it runs is turned away, not left waiting forever.
TEST(Task, TwoCoroutinesCannotAwaitOneTask) {
  EXPECT_TRUE(lesson6::run(two_await_one_task()));
}

TEST(EventLoop, OneThreadRunsOneLoopAtATime) {
  EXPECT_THROW(lesson6::EventLoop::current(), std::logic_error);
  lesson6::EventLoop loop;
  EXPECT_EQ(&lesson6::EventLoop::current(), &loop);
  EXPECT_THROW(lesson6::EventLoop another, std::logic_error);
}

Task<int> await_task_at(Task<int>* task) {
  co_return co_await *task;
}

// Its frame went with the move: awaiting what is left is an error that says
// so, not a use after free.
TEST(Task, AMovedFromTaskCannotRun) {
  Task<int> task = forty_two();
  Task<int> moved = std::move(task);
  EXPECT_THROW(lesson6::run(await_task_at(&task)), std::logic_error);
  EXPECT_EQ(lesson6::run(std::move(moved)), 42);
}

TEST(Task, IsLazyNothingRunsUntilItIsAwaited) {
  int runs = 0;
  const auto count_run = [](int* counter) -> Task<void> {
    ++*counter;
    co_return;
  };
  Task<void> task = count_run(&runs);
  EXPECT_EQ(runs, 0);
  lesson6::run(std::move(task));
  EXPECT_EQ(runs, 1);
}

Task<long> sum_of_ones(long count) {
  long sum = 0;
  for (long i = 0; i < count; ++i)
    sum += co_await forty_two() - 41;
  co_return sum;
}

TEST(Task, AMillionAwaitsOfTasksThatFinishAtOnceDoNotOverflowTheStack) {
  EXPECT_EQ(lesson6::run(sum_of_ones(1'000'000)), 1'000'000);
}

// --- timers -----------------------------------------------------------------

Task<void> sleep_then_record(std::chrono::milliseconds duration, int label,
                             std::vector<int>* order) {
  co_await lesson6::sleep(duration);
  order->push_back(label);
}

TEST(Timers, TasksWakeInTheOrderTheirSleepsEndNotTheOrderTheyStarted) {
  std::vector<int> order;
  lesson6::run(lesson6::gather(sleep_then_record(60ms, 3, &order),
                               sleep_then_record(20ms, 1, &order),
                               sleep_then_record(40ms, 2, &order)));
  EXPECT_THAT(order, ElementsAre(1, 2, 3));
}

Task<void> set_timers(std::vector<int>* order) {
  lesson6::EventLoop& loop = lesson6::EventLoop::current();
  for (int label = 1; label <= 3; ++label) {
    loop.call_later(0ms, [order, label] { order->push_back(label); });
  }
  const lesson6::EventLoop::TimerId cancelled =
      loop.call_later(0ms, [order] { order->push_back(-1); });
  loop.cancel(cancelled);
  co_await lesson6::sleep(5ms);
}

Task<void> yield_then_record(bool* resumed) {
  co_await lesson6::sleep(0ms);
  *resumed = true;
}

Task<bool> destroy_a_task_that_yielded() {
  bool resumed = false;
  {
    Task<void> yielder = yield_then_record(&resumed);
    yielder.start();  // up to sleep(0), which schedules it for the next turn
  }                   // and destroyed before that turn comes
  co_await lesson6::sleep(0ms);
  co_await lesson6::sleep(0ms);
  co_return resumed;
}

TEST(Timers, ATaskDestroyedAfterSleepZeroIsNeverResumed) {
  EXPECT_FALSE(lesson6::run(destroy_a_task_that_yielded()));
}

TEST(Timers, TimersDueTogetherRunInTheOrderTheyWereSetAndCancelledOnesNever) {
  std::vector<int> order;
  lesson6::run(set_timers(&order));
  EXPECT_THAT(order, ElementsAre(1, 2, 3));
}

TEST(Timers, ACancelledTimerLeavesAtOnceAndNoLongerBoundsTheLoopsWait) {
  lesson6::EventLoop loop;  // turned by hand here, one run_once() at a time
  for (int delay = 1; delay <= 100; ++delay) {
    loop.cancel(loop.call_later(std::chrono::milliseconds(delay), [] {}));
  }
  // A loop that kept them until their deadlines would wake up for each one.
  EXPECT_LE(turns_until_a_timer_runs(loop, 150ms), 2);
}

Task<void> record_every(std::chrono::milliseconds period, int count, char label,
                        std::string* record) {
  for (int i = 0; i < count; ++i) {
    record->push_back(label);
    co_await lesson6::sleep(period);
  }
}

// Keeps the loop from everybody else for a while, as slow work would.
Task<void> hold_up_the_loop_twice() {
  for (int time = 0; time < 2; ++time) {
    co_await lesson6::sleep(10ms);
    const auto until = std::chrono::steady_clock::now() + 5ms;
    while (std::chrono::steady_clock::now() < until) {
    }
  }
}

TEST(Timers, TasksThatSleepInTurnsKeepInStepHoweverLateTheLoopWakes) {
  std::string record;
  lesson6::run(lesson6::gather(record_every(1ms, 60, 'a', &record),
                               record_every(3ms, 20, 'b', &record), hold_up_the_loop_twice()));
  // Every millisecond an 'a'; every third one a 'b' too, before the 'a' (its
  // timer, set two milliseconds earlier, is due at the same moment), but at
  // the start, where 'a' starts first. A task woken late that slept on from
  // the time it woke would fall behind the other, and the pattern would slip.
  std::string expected = "ab";
  for (int millisecond = 1; millisecond < 60; ++millisecond)
    expected += millisecond % 3 == 0 ? "ba" : "a";
  EXPECT_EQ(record, expected);
}

// --- gather -----------------------------------------------------------------

Task<int> value_after(std::chrono::milliseconds delay, int value) {
  co_await lesson6::sleep(delay);
  co_return value;
}

Task<std::vector<int>> gather_three_values() {
  std::vector<Task<int>> tasks;
  tasks.push_back(value_after(30ms, 1));
  tasks.push_back(value_after(10ms, 2));
  tasks.push_back(value_after(20ms, 3));
  co_return co_await lesson6::gather(std::move(tasks));
}

TEST(Gather, ReturnsTheResultsInTheOrderOfItsTasksWhateverOrderTheyFinish) {
  EXPECT_THAT(lesson6::run(gather_three_values()), ElementsAre(1, 2, 3));
}

Task<int> fail_after(std::chrono::milliseconds delay, std::string message) {
  co_await lesson6::sleep(delay);
  throw std::runtime_error(message);
}

Task<int> record_after(std::chrono::milliseconds delay, bool* finished) {
  co_await lesson6::sleep(delay);
  *finished = true;
  co_return 0;
}

Task<void> gather_failures(bool* slow_task_finished) {
  std::vector<Task<int>> tasks;
  tasks.push_back(fail_after(20ms, "second to fail, first in the list"));
  tasks.push_back(fail_after(0ms, "first to fail"));
  tasks.push_back(record_after(40ms, slow_task_finished));
  co_await lesson6::gather(std::move(tasks));
}

TEST(Gather, WaitsForEveryTaskThenRethrowsTheExceptionOfTheFirstInTheList) {
  bool slow_task_finished = false;
  try {
    lesson6::run(gather_failures(&slow_task_finished));
    ADD_FAILURE() << "gather did not rethrow";
  } catch (const std::runtime_error& error) {
    EXPECT_STREQ(error.what(), "second to fail, first in the list");
  }
  EXPECT_TRUE(slow_task_finished);
}

Task<void> wait_for_flag(const bool* flag, bool* saw_it) {
  *saw_it = co_await wait_until([flag] { return *flag; });
}

Task<void> raise_flag(bool* flag) {
  *flag = true;
  co_return;
}

TEST(Gather, RunsItsTasksConcurrentlyNotOneAfterTheOther) {
  // The first task can only finish once the second has run.
  bool flag = false;
  bool saw_it = false;
  lesson6::run(lesson6::gather(wait_for_flag(&flag, &saw_it), raise_flag(&flag)));
  EXPECT_TRUE(saw_it);
}

TEST(Gather, OfNoTasksFinishesAtOnce) {
  EXPECT_TRUE(lesson6::run(lesson6::gather(std::vector<Task<int>>{})).empty());
  EXPECT_NO_THROW(lesson6::run(lesson6::gather()));
}

// --- spawn ------------------------------------------------------------------

Task<void> set_after(std::chrono::milliseconds delay, bool* flag) {
  co_await lesson6::sleep(delay);
  *flag = true;
}

Task<void> spawn_and_return(bool* spawned_task_finished) {
  lesson6::spawn(set_after(10ms, spawned_task_finished));
  co_return;
}

Task<bool> spawner_returns_first(bool* spawned_task_finished) {
  co_await spawn_and_return(spawned_task_finished);
  const bool finished_before_spawner = *spawned_task_finished;
  const bool finished_later = co_await wait_until([=] { return *spawned_task_finished; });
  co_return !finished_before_spawner && finished_later;
}

TEST(Spawn, ASpawnedTaskOutlivesTheTaskThatSpawnedIt) {
  bool spawned_task_finished = false;
  EXPECT_TRUE(lesson6::run(spawner_returns_first(&spawned_task_finished)));
  EXPECT_TRUE(spawned_task_finished);
}

Task<void> throw_logic_error() {
  throw std::logic_error("nobody awaits me");
  co_return;
}

Task<void> spawn_a_failing_task() {
  lesson6::spawn(throw_logic_error());
  co_await lesson6::sleep(0ms);  // one turn: the spawned task runs and fails
}

TEST(Spawn, AnExceptionNobodyAwaitsIsReportedOnStandardError) {
  const CapturedStandardError captured;
  lesson6::run(spawn_a_failing_task());
  EXPECT_THAT(captured.text(), HasSubstr("nobody awaits me"));
}

Task<void> hold_a_counted_forever(std::chrono::milliseconds delay) {
  const Counted counted;
  co_await lesson6::sleep(delay);
}

Task<int> spawn_sleepers_and_count() {
  for (int i = 0; i < 3; ++i)
    lesson6::spawn(hold_a_counted_forever(1h));
  co_await lesson6::sleep(0ms);
  co_return Counted::live;
}

TEST(Spawn, TasksStillSuspendedWhenTheMainTaskEndsAreDestroyed) {
  Counted::live = 0;
  EXPECT_EQ(lesson6::run(spawn_sleepers_and_count()), 3);
  EXPECT_EQ(Counted::live, 0);
}

// --- stop at a signal -------------------------------------------------------

Task<void> hold_a_counted_while_reading(const lesson6::Socket& socket) {
  const Counted counted;
  std::array<char, 16> buffer{};
  co_await lesson6::read_some(socket, buffer);
}

Task<void> nested_sleeper() {
  const Counted counted;
  co_await hold_a_counted_forever(1h);
}

Task<void> suspend_everybody_then_raise(const lesson6::Socket& socket) {
  const Counted counted;
  lesson6::spawn(hold_a_counted_while_reading(socket));
  lesson6::spawn(nested_sleeper());
  co_await lesson6::sleep(0ms);  // let them start and suspend
  std::raise(SIGTERM);
  co_await hold_a_counted_forever(1h);
}

// In a child process: the stop pipe stays readable once a signal came, which
// would stop every later loop of this process.
void run_until_stopped_and_check_destructors() {
  const SocketPair sockets = make_socket_pair();
  try {
    lesson6::run(suspend_everybody_then_raise(sockets.ours));
  } catch (const lesson6::Stopped&) {
    std::exit(Counted::live == 0 ? 0 : 1);
  }
  std::exit(2);
}

TEST(StopDeathTest, ASignalDestroysEverySuspendedTaskAndRunThrowsStopped) {
  // A child that runs this program afresh: a forked one would share this
  // process's stop pipe, once a loop here made it (--gtest_repeat).
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(run_until_stopped_and_check_destructors(), testing::ExitedWithCode(0), "");
}

// --- socket awaitables ------------------------------------------------------

Task<void> read_into(const lesson6::Socket& socket, std::vector<std::string>* events) {
  events->push_back("reader starts");
  std::array<char, 64> buffer{};
  const std::size_t received = co_await lesson6::read_some(socket, buffer);
  events->push_back("reader got " + text_of(std::span(buffer).first(received)));
}

Task<void> write_later(const lesson6::Socket& socket, std::vector<std::string>* events) {
  co_await lesson6::sleep(0ms);  // the reader has found nothing and waits by now
  events->push_back("writer sends");
  co_await lesson6::write_all(socket, std::string_view("hello"));
}

TEST(Sockets, ReadSomeWaitsUntilDataArrivesThenReturnsIt) {
  const SocketPair sockets = make_socket_pair();
  std::vector<std::string> events;
  lesson6::run(
      lesson6::gather(read_into(sockets.ours, &events), write_later(sockets.theirs, &events)));
  EXPECT_THAT(events, ElementsAre("reader starts", "writer sends", "reader got hello"));
}

Task<std::vector<std::string>> read_in_pieces_of_four(const lesson6::Socket& socket) {
  std::vector<std::string> pieces;
  std::array<char, 4> buffer{};
  while (const std::size_t received = co_await lesson6::read_some(socket, buffer)) {
    pieces.push_back(text_of(std::span(buffer).first(received)));
  }
  co_return pieces;
}

TEST(Sockets, ReadSomeReturnsAtMostItsBufferAndZeroOnceThePeerClosed) {
  SocketPair sockets = make_socket_pair();
  ASSERT_EQ(send(sockets.theirs.get(), "abcdefghij", 10, 0), 10);
  sockets.theirs.close();
  EXPECT_THAT(lesson6::run(read_in_pieces_of_four(sockets.ours)),
              ElementsAre("abcd", "efgh", "ij"));
}

Task<void> read_and_discard(const lesson6::Socket& socket) {
  std::array<char, 16> buffer{};
  while (co_await lesson6::read_some(socket, buffer) > 0) {
  }
}

TEST(Sockets, ReadSomeThrowsWhenThePeerResetsTheConnection) {
  const common::FileDescriptor listener = common::listen_tcp("127.0.0.1", 0);
  common::FileDescriptor client = test_support::connect_to(port_of(listener.get()));
  const lesson6::Socket server(
      common::FileDescriptor(accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK)));
  ASSERT_GE(server.get(), 0);
  // Closing with a zero linger time sends a reset instead of a normal close.
  const linger reset_on_close{1, 0};
  setsockopt(client.get(), SOL_SOCKET, SO_LINGER, &reset_on_close, sizeof reset_on_close);
  client.reset();
  EXPECT_THROW(lesson6::run(read_and_discard(server)), std::system_error);
}

Task<void> write_into_a_full_socket(const lesson6::Socket& socket,
                                    std::vector<std::string>* events) {
  const std::string chunk(4096, 'x');
  events->push_back("writer waits");
  co_await lesson6::write_all(socket, chunk);
  events->push_back("writer sent");
}

Task<void> drain_later(int fd, std::vector<std::string>* events) {
  co_await lesson6::sleep(0ms);  // the writer has met EAGAIN and waits by now
  events->push_back("reader drains");
  std::array<char, 4096> buffer{};
  while (recv(fd, buffer.data(), buffer.size(), 0) > 0) {
  }
}

Task<void> fill_then_drain(const SocketPair& sockets, std::vector<std::string>* events) {
  lesson6::spawn(drain_later(sockets.theirs.get(), events));
  co_await write_into_a_full_socket(sockets.ours, events);
}

TEST(Sockets, WriteAllWaitsWhileTheSocketIsFullAndGoesOnOnceItDrains) {
  const SocketPair sockets = make_socket_pair();
  const std::string chunk(4096, 'x');
  while (send(sockets.ours.get(), chunk.data(), chunk.size(), 0) > 0) {
  }
  ASSERT_EQ(errno, EAGAIN);
  std::vector<std::string> events;
  lesson6::run(fill_then_drain(sockets, &events));
  EXPECT_THAT(events, ElementsAre("writer waits", "reader drains", "writer sent"));
}

Task<std::string> receive_all(const lesson6::Socket& socket) {
  std::string received;
  std::array<char, 1000> buffer{};
  while (const std::size_t count = co_await lesson6::read_some(socket, buffer)) {
    received.append(buffer.data(), count);
  }
  co_return received;
}

Task<void> send_all_then_close(lesson6::Socket socket, std::string bytes) {
  co_await lesson6::write_all(socket, bytes);
}

Task<std::string> send_and_receive(lesson6::Socket ours, const lesson6::Socket& theirs,
                                   std::string bytes) {
  lesson6::spawn(send_all_then_close(std::move(ours), std::move(bytes)));
  co_return co_await receive_all(theirs);
}

TEST(Sockets, WriteAllSendsEveryByteInOrderThroughASmallSocketBuffer) {
  SocketPair sockets = make_socket_pair();
  const int small = 4096;
  setsockopt(sockets.ours.get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  std::string bytes(1 << 20, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = static_cast<char>(i * 7 % 251);
  const std::string received =
      lesson6::run(send_and_receive(std::move(sockets.ours), sockets.theirs, bytes));
  EXPECT_TRUE(received == bytes) << "received " << received.size() << " bytes";
}

Task<bool> accept_one(const lesson6::Socket& listener) {
  const lesson6::Socket client = co_await lesson6::accept(listener);
  co_return (fcntl(client.get(), F_GETFL) & O_NONBLOCK) != 0;
}

TEST(Sockets, AcceptGivesANonBlockingConnection) {
  const lesson6::Socket listener = make_listener();
  const common::FileDescriptor client = test_support::connect_to(port_of(listener.get()));
  EXPECT_TRUE(lesson6::run(accept_one(listener)));
}

Task<void> send_later(const lesson6::Socket& socket, std::string text) {
  co_await lesson6::sleep(0ms);  // the reader has found nothing and waits by now
  co_await lesson6::write_all(socket, text);
}

Task<void> connect_later(std::uint16_t port, common::FileDescriptor* client) {
  co_await lesson6::sleep(0ms);  // accept() has found nobody and waits by now
  *client = test_support::connect_to(port);
}

Task<bool> accept_a_client_that_comes_later(const lesson6::Socket& listener,
                                            common::FileDescriptor* client) {
  lesson6::spawn(connect_later(port_of(listener.get()), client));
  const lesson6::Socket accepted = co_await lesson6::accept(listener);
  co_return accepted.get() >= 0 && static_cast<bool>(*client);
}

TEST(Sockets, AcceptWaitsForAClientThatConnectsLater) {
  const lesson6::Socket listener = make_listener();
  common::FileDescriptor client;
  EXPECT_TRUE(lesson6::run(accept_a_client_that_comes_later(listener, &client)));
}

Task<int> watch_with_a_callback(const SocketPair& sockets) {
  lesson6::EventLoop& loop = lesson6::EventLoop::current();
  const int ours = sockets.ours.get();
  int calls = 0;
  loop.selector().register_fd(ours, lesson3::event_read,
                              [&calls, &loop, ours](lesson3::EventMask ready) {
                                if ((ready & lesson3::event_read) != 0) ++calls;
                                loop.unwatch(ours);
                              });
  co_await lesson6::write_all(sockets.theirs, std::string_view("?"));
  co_await wait_until([&calls] { return calls > 0; });
  co_return calls;
}

TEST(Sockets, AWatchedDescriptorRunsItsCallbackWhenReady) {
  const SocketPair sockets = make_socket_pair();
  EXPECT_EQ(lesson6::run(watch_with_a_callback(sockets)), 1);
}

// --- a socket is registered for what its tasks wait for --------------------

Task<std::string> read_text(const lesson6::Socket& socket) {
  std::array<char, 64> buffer{};
  const std::size_t received = co_await lesson6::read_some(socket, buffer);
  co_return text_of(std::span(buffer).first(received));
}

Task<void> read_text_into(const lesson6::Socket& socket, std::string* text) {
  *text = co_await read_text(socket);
}

struct NumbersAndText {
  int first_number;
  int second_number;
  std::string text;
};

Task<NumbersAndText> read_from_a_socket_that_reuses_a_closed_ones_number() {
  NumbersAndText result{};
  SocketPair first = make_socket_pair();
  result.first_number = first.ours.get();
  lesson6::spawn(send_later(first.theirs, "one"));
  co_await read_text(first.ours);  // it waited: first.ours was registered
  first.ours.close();

  const SocketPair second = make_socket_pair();  // gets the lowest free number: the same
  result.second_number = second.ours.get();
  lesson6::spawn(read_text_into(second.ours, &result.text));
  lesson6::spawn(send_later(second.theirs, "two"));
  co_await wait_until([&result] { return !result.text.empty(); });
  co_return result;
}

TEST(Sockets, ANewSocketWithTheNumberOfAClosedOneIsWokenWhenReady) {
  const NumbersAndText result = lesson6::run(read_from_a_socket_that_reuses_a_closed_ones_number());
  ASSERT_EQ(result.second_number, result.first_number) << "the number was not reused";
  EXPECT_EQ(result.text, "two");
}

void send_text(const lesson6::Socket& socket, std::string_view text) {
  ASSERT_EQ(send(socket.get(), text.data(), text.size(), 0), static_cast<ssize_t>(text.size()));
}

Task<void> read_twice(const lesson6::Socket& socket, std::string* received) {
  std::array<char, 4096> buffer{};
  for (int read = 0; read < 2; ++read) {
    const std::size_t count = co_await lesson6::read_some(socket, buffer);
    received->append(buffer.data(), count);
  }
}

Task<std::string> read_give_up_and_read_on(const lesson6::Socket& socket) {
  std::string received;
  std::array<char, 4096> buffer{};
  // A full buffer: the socket holds more, and stays readable.
  received.append(buffer.data(), co_await lesson6::read_some(socket, buffer));
  // Given up on before its turn: destroyed in the turn its read is due.
  co_await lesson6::wait_for(read_twice(socket, &received), 0ms);
  while (const std::size_t count = co_await lesson6::read_some(socket, buffer))
    received.append(buffer.data(), count);
  co_return received;
}

// A read the loop made for a task is the task's: if the task is gone before
// it would resume, the bytes must still be in the socket for the next reader.
TEST(Sockets, ATaskGivenUpOnWhileItsSocketHoldsDataLosesNoBytes) {
  SocketPair sockets = make_socket_pair();
  std::string sent(20'480, '\0');
  for (std::size_t i = 0; i < sent.size(); ++i)
    sent[i] = static_cast<char>('a' + (i / 7) % 26);
  send_text(sockets.theirs, sent);
  sockets.theirs.close();
  EXPECT_EQ(lesson6::run(read_give_up_and_read_on(sockets.ours)), sent);
}

Task<bool> two_readers_of_one_socket(const SocketPair* sockets) {
  Task<std::string> first = read_text(sockets->ours);
  first.start();  // nothing to read yet: it waits on the socket
  bool turned_away = false;
  try {
    co_await read_text(sockets->ours);
  } catch (const std::logic_error&) {
    turned_away = true;
  }
  send_text(sockets->theirs, "a");
  const std::string read_first = co_await first;  // the first reader still gets its byte
  co_return read_first == "a" && turned_away;
}

// Which of two readers would get the bytes? Neither guesses: the second is
// turned away.
TEST(Sockets, TwoTasksCannotWaitOnOneSocketForTheSameThing) {
  const SocketPair sockets = make_socket_pair();
  EXPECT_TRUE(lesson6::run(two_readers_of_one_socket(&sockets)));
}

Task<void> write_text(const lesson6::Socket& socket, std::string text) {
  co_await lesson6::write_all(socket, text);
}

// Reads `count` bytes, all that are to come.
Task<void> read_exactly(const lesson6::Socket& socket, std::size_t count, std::string* received) {
  std::array<char, 4096> buffer{};
  while (received->size() < count) {
    const std::size_t got = co_await lesson6::read_some(
        socket, std::span(buffer).first(std::min(buffer.size(), count - received->size())));
    if (got == 0) co_return;
    received->append(buffer.data(), got);
  }
}

struct SecondWriter {
  bool turned_away;
  std::string received;  // by the peer, after what filled the socket
};

Task<SecondWriter> write_while_another_writer_waits(const SocketPair* sockets) {
  SecondWriter result{false, {}};
  std::size_t filled = 0;
  const std::string filler(4096, 'f');
  for (ssize_t sent; (sent = send(sockets->ours.get(), filler.data(), filler.size(), 0)) > 0;)
    filled += static_cast<std::size_t>(sent);
  const std::string first_text(100'000, 'a');
  Task<void> first = write_text(sockets->ours, first_text);
  first.start();  // the socket is full: the first writer waits
  // The peer takes some: the socket has room before the first writer's turn.
  std::array<char, 4096> taken{};
  const ssize_t drained = recv(sockets->theirs.get(), taken.data(), taken.size(), 0);
  if (drained <= 0) throw std::runtime_error("nothing to drain");
  try {
    co_await write_text(sockets->ours, "B");
  } catch (const std::logic_error&) {
    result.turned_away = true;
  }
  const std::size_t to_come = filled - static_cast<std::size_t>(drained) + first_text.size();
  lesson6::spawn(
      read_exactly(sockets->theirs, to_come + (result.turned_away ? 0 : 1), &result.received));
  co_await first;
  co_await wait_until([&] { return result.received.size() >= to_come; });
  result.received.erase(0, filled - static_cast<std::size_t>(drained));  // the rest of the filler
  co_return result;
}

// A write tries at once, but not past a writer that waits already: its bytes
// would land in the middle of the other's. Like a second reader, it is an error.
TEST(Sockets, ASecondWriterIsTurnedAwayRatherThanSentBeforeTheWaitingOnesBytes) {
  const SocketPair sockets = make_socket_pair();
  const SecondWriter result = lesson6::run(write_while_another_writer_waits(&sockets));
  EXPECT_TRUE(result.turned_away);
  EXPECT_TRUE(result.received == std::string(100'000, 'a'))
      << "the first writer's bytes did not come whole and first: " << result.received.substr(0, 16);
}

TEST(Sockets, AnEventNoTaskWaitsForDoesNotKeepTheLoopBusy) {
  lesson6::EventLoop loop;  // turned by hand here, one run_once() at a time
  const SocketPair sockets = make_socket_pair();
  {
    Task<std::string> abandoned = read_text(sockets.ours);
    abandoned.start();  // nothing to read: it waits
    ASSERT_FALSE(abandoned.done());
    turns_until_a_timer_runs(loop, 0ms);  // a turn: and the socket is registered, to read
  }                                       // destroyed while waiting: nobody waits to read any more
  send_text(sockets.theirs, "a");
  // The loop drops the registration before it waits again, and sleeps until
  // the timer. A loop that still watched the socket would be told of the
  // byte on every turn while it lies there, and spin: thousands of turns.
  EXPECT_LE(turns_until_a_timer_runs(loop, 20ms), 2);

  // A reader that comes later is registered again, and reads the byte, which
  // has waited in the socket meanwhile.
  Task<std::string> reader = read_text(sockets.ours);
  reader.start();
  loop.call_later(10s, [] {});  // so that the turn ends, even if nobody wakes the reader
  loop.run_once();
  ASSERT_TRUE(reader.done());
  EXPECT_EQ(reader.await_resume(), "a");  // what co_await would give
}

// Echoes three bytes one at a time, then sends more than the socket holds
// (the peer drains it meanwhile) and waits for one byte more.
Task<void> drain_then_answer(const lesson6::Socket& socket, std::size_t size) {
  std::array<char, 4096> buffer{};
  for (std::size_t drained = 0; drained < size;)
    drained += co_await lesson6::read_some(socket, buffer);
  co_await lesson6::write_all(socket, std::string_view("!"));
}

Task<void> echo_then_send_a_lot(const SocketPair* sockets) {
  std::array<char, 1> byte{};
  for (int echo = 0; echo < 3; ++echo) {
    co_await lesson6::read_some(sockets->ours, byte);
    co_await lesson6::write_all(sockets->ours, byte);
  }
  const std::string lot(1 << 22, 'x');
  lesson6::spawn(drain_then_answer(sockets->theirs, 3 + lot.size()));
  co_await lesson6::write_all(sockets->ours, lot);
  co_await lesson6::read_some(sockets->ours, byte);
}

// What --trace says a descriptor is registered for, in order: the Selector
// narrates each registration and each change ("fd 5: waits to write").
std::vector<std::string> registrations_of(int fd, const std::string& narration) {
  const std::string prefix = "trace: fd " + std::to_string(fd) + ": ";
  std::vector<std::string> found;
  std::istringstream lines(narration);
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with(prefix)) continue;
    const std::string said = line.substr(prefix.size());
    if (said.starts_with("registered: ") || said.starts_with("waits to ")) found.push_back(said);
  }
  return found;
}

// Narration on standard error, as with --trace, while it lives.
class Narrated {
 public:
  Narrated() { observer::start(true, ""); }
  ~Narrated() { observer::stop(); }
  Narrated(const Narrated&) = delete;
  Narrated& operator=(const Narrated&) = delete;
};

// Level-triggered, as asyncio and lesson 3 are: a socket is registered for
// what its task waits for, and the kernel is asked again only when that
// changes, not at every wait: an echo costs no registration.
TEST(Sockets, ASocketIsRegisteredAgainOnlyWhenWhatItsTaskWaitsForChanges) {
  const SocketPair sockets = make_socket_pair();
  send_text(sockets.theirs, "abc");
  std::string narration;
  {
    const CapturedStandardError captured;
    const Narrated narrated;
    lesson6::run(echo_then_send_a_lot(&sockets));
    narration = captured.text();
  }
  // Registered to read; three echoes change nothing; a write that must wait
  // turns it to writing only, and the read that follows back to reading.
  EXPECT_THAT(registrations_of(sockets.ours.get(), narration),
              ElementsAre("registered: waits to read", "waits to write", "waits to read"))
      << narration.substr(0, 4000);
}

Task<void> read_byte_by_byte(const lesson6::Socket& socket, int count,
                             std::vector<std::string>* finished) {
  char byte = 0;
  for (int i = 0; i < count; ++i)
    co_await lesson6::read_some(socket, std::span(&byte, 1));
  finished->push_back("busy reader");
}

Task<void> read_once(const lesson6::Socket& socket, std::vector<std::string>* finished) {
  co_await read_text(socket);
  finished->push_back("other reader");
}

TEST(Sockets, EveryReaderGetsATurnEvenWhenOneSocketNeverRunsDry) {
  const SocketPair busy = make_socket_pair();
  const SocketPair other = make_socket_pair();
  send_text(busy.theirs, std::string(100, 'x'));
  send_text(other.theirs, "!");
  std::vector<std::string> finished;
  // The busy reader starts first and could read all it needs without ever
  // waiting; reading once per turn, it lets the other one finish first.
  lesson6::run(lesson6::gather(read_byte_by_byte(busy.ours, 100, &finished),
                               read_once(other.ours, &finished)));
  EXPECT_THAT(finished, ElementsAre("other reader", "busy reader"));
}

// From its construction until restore(), no new descriptor can be made: the
// limit on open descriptors becomes the lowest free number.
class DescriptorShortage {
 public:
  explicit DescriptorShortage(int open_descriptor) {
    if (getrlimit(RLIMIT_NOFILE, &saved_) < 0) throw os_error("getrlimit");
    const int lowest_free = fcntl(open_descriptor, F_DUPFD_CLOEXEC, 0);
    if (lowest_free < 0) throw os_error("fcntl(F_DUPFD_CLOEXEC)");
    close(lowest_free);
    rlimit tight = saved_;
    tight.rlim_cur = static_cast<rlim_t>(lowest_free);
    if (setrlimit(RLIMIT_NOFILE, &tight) < 0) throw os_error("setrlimit");
  }
  ~DescriptorShortage() { restore(); }
  DescriptorShortage(const DescriptorShortage&) = delete;
  DescriptorShortage& operator=(const DescriptorShortage&) = delete;

  void restore() {
    if (std::exchange(short_, false)) setrlimit(RLIMIT_NOFILE, &saved_);
  }

 private:
  static std::system_error os_error(const char* what) {
    return {errno, std::generic_category(), what};
  }

  rlimit saved_{};
  bool short_ = true;
};

Task<void> end_the_shortage_and_connect_once_reported(DescriptorShortage* shortage,
                                                      const CapturedStandardError* captured,
                                                      std::uint16_t port,
                                                      common::FileDescriptor* second) {
  co_await wait_until([captured] { return !captured->text().empty(); });
  shortage->restore();
  *second = test_support::connect_to(port);
}

Task<bool> accept_during_a_shortage(const lesson6::Socket& listener,
                                    const CapturedStandardError* captured,
                                    common::FileDescriptor* second) {
  const std::uint16_t port = port_of(listener.get());
  DescriptorShortage shortage(listener.get());  // inside the loop: the loop needs descriptors
  lesson6::spawn(end_the_shortage_and_connect_once_reported(&shortage, captured, port, second));
  const lesson6::Socket client = co_await lesson6::accept(listener);
  co_return client.get() >= 0;
}

TEST(Sockets, AcceptTurnsAClientAwayDuringAShortageOfDescriptorsAndAcceptsTheNext) {
  const lesson6::Socket listener = make_listener();
  // UndefinedBehaviorSanitizer checks a class the first time it meets it,
  // through a pipe it opens (tests/descriptor_limit_test.cpp says more): not
  // while no descriptor can be made. So accept() waits once before the shortage.
  common::FileDescriptor earlier;
  ASSERT_TRUE(lesson6::run(accept_a_client_that_comes_later(listener, &earlier)));
  const common::FileDescriptor first = test_support::connect_to(port_of(listener.get()));
  common::FileDescriptor second;
  std::cerr.flush();
  const CapturedStandardError captured;
  EXPECT_TRUE(lesson6::run(accept_during_a_shortage(listener, &captured, &second)));
  // One line: the first client was turned away, and then accept() waited for
  // the next one rather than trying again on every turn.
  const std::string said = captured.text();
  EXPECT_THAT(said, StartsWith("accept: "));
  EXPECT_THAT(said, EndsWith("; turning a client away\n"));
  EXPECT_EQ(std::count(said.begin(), said.end(), '\n'), 1) << said;
  ASSERT_TRUE(test_support::wait_readable(first.get(), 10s));
  char byte = 0;
  EXPECT_EQ(recv(first.get(), &byte, 1, 0), 0) << "the first client was not hung up on";
}

Task<std::vector<std::string>> read_until_the_end(const lesson6::Socket& socket) {
  std::vector<std::string> pieces;
  while (true) {
    std::string piece = co_await read_text(socket);
    if (piece.empty()) co_return pieces;
    pieces.push_back(std::move(piece));
  }
}

Task<std::optional<std::vector<std::string>>> read_until_the_end_within(
    const lesson6::Socket& socket, std::chrono::milliseconds limit) {
  co_return co_await lesson6::wait_for(read_until_the_end(socket), limit);
}

TEST(Sockets, AReadShorterThanItsBufferStillFindsAnEndThatCameWithTheData) {
  SocketPair sockets = make_socket_pair();
  send_text(sockets.theirs, "last words");
  sockets.theirs.close();  // the data and the end, both there at once
  // The short read takes the data, not the end: the socket stays readable,
  // and the next read finds the end at once.
  EXPECT_EQ(lesson6::run(read_until_the_end_within(sockets.ours, 5s)),
            std::optional(std::vector<std::string>{"last words"}));
}

Task<std::string> read_from_a_socket_with_the_number_libcurl_left(int* libcurl_callbacks) {
  lesson6::EventLoop& loop = lesson6::EventLoop::current();
  auto [libcurls, other_end] = test_support::make_socket_pair();
  const int number = libcurls.get();
  loop.selector().register_fd(number, lesson3::event_read,
                              [libcurl_callbacks](lesson3::EventMask) { ++*libcurl_callbacks; });
  libcurls.reset();  // libcurl may close its socket before it says so
  const SocketPair sockets = make_socket_pair();
  if (sockets.ours.get() != number) throw std::runtime_error("the number was not reused");
  lesson6::spawn(send_later(sockets.theirs, "one"));
  std::string text = co_await read_text(sockets.ours);  // registers the new socket
  loop.unwatch(number);  // libcurl, saying it late: the Socket's registration stays
  lesson6::spawn(send_later(sockets.theirs, "two"));
  text += co_await read_text(sockets.ours);
  co_return text;
}

TEST(Sockets, ASocketCanTakeTheNumberOfOneThatLibcurlClosedBeforeSayingSo) {
  int libcurl_callbacks = 0;
  const std::optional<std::string> text = lesson6::run(
      lesson6::wait_for(read_from_a_socket_with_the_number_libcurl_left(&libcurl_callbacks), 5s));
  EXPECT_EQ(text, std::optional<std::string>("onetwo"));
  EXPECT_EQ(libcurl_callbacks, 0);
}

// --- what --trace and --timeline draw each task on --------------------------

std::string name_of(observer::Track track) {
  if (lesson6::is_the_loops(track)) return "loop";
  return std::string(track.noun) + " " + std::to_string(track.number);
}

Task<void> note_tracks_around_a_sleep(std::vector<std::string>* tracks) {
  tracks->push_back(name_of(lesson6::running_track));
  co_await lesson6::sleep(1ms);
  tracks->push_back(name_of(lesson6::running_track));
}

Task<void> gather_two_noting_tracks(std::vector<std::string>* tracks) {
  tracks->push_back(name_of(lesson6::running_track));
  co_await lesson6::gather(note_tracks_around_a_sleep(tracks), note_tracks_around_a_sleep(tracks));
  tracks->push_back(name_of(lesson6::running_track));
}

TEST(Tracks, GatherGivesEachTaskATrackOfItsOwnNumberedInTheOrderTheyStart) {
  std::vector<std::string> tracks;
  lesson6::run(gather_two_noting_tracks(&tracks));
  EXPECT_EQ(lesson6::running_track.noun, observer::Timeline::loop.noun);  // between tasks
  ASSERT_EQ(tracks.size(), 6u);
  ASSERT_THAT(tracks[1], StartsWith("task "));
  const long first = std::stol(tracks[1].substr(5));
  const std::string one = "task " + std::to_string(first);
  const std::string two = "task " + std::to_string(first + 1);
  // Each on its own before and after its sleep; the task that gathers them
  // on its own, the loop's, before and after.
  EXPECT_THAT(tracks, ElementsAre("loop", one, two, one, two, "loop"));
}

Task<void> read_noting_tracks(const lesson6::Socket& socket, std::vector<std::string>* tracks) {
  tracks->push_back(name_of(lesson6::running_track));
  std::array<char, 8> buffer{};
  co_await lesson6::read_some(socket, buffer);
  tracks->push_back(name_of(lesson6::running_track));
  co_await lesson6::sleep(1ms);
  tracks->push_back(name_of(lesson6::running_track));
}

Task<void> spawn_a_reader_noting_tracks(const SocketPair* sockets,
                                        std::vector<std::string>* tracks) {
  lesson6::spawn(read_noting_tracks(sockets->ours, tracks));
  lesson6::spawn(send_later(sockets->theirs, "hello"));
  co_await wait_until([tracks] { return tracks->size() == 3; });
}

// A connection's task, spawned as it is accepted, is drawn on its
// connection's track from its first wait on the socket: its runs, its
// reads, and its sleeps too.
TEST(Tracks, ASpawnedTaskIsDrawnOnTheTrackOfTheSocketItWaitsOn) {
  const SocketPair sockets = make_socket_pair();
  std::vector<std::string> tracks;
  lesson6::run(spawn_a_reader_noting_tracks(&sockets, &tracks));
  const std::string socket = "fd " + std::to_string(sockets.ours.get());
  EXPECT_THAT(tracks, ElementsAre("loop", socket, socket));
}

// --- wait_for ---------------------------------------------------------------

TEST(WaitFor, GivesTheValueOfATaskThatEndsInTime) {
  EXPECT_EQ(lesson6::run(lesson6::wait_for(value_after(10ms, 7), 10s)), std::optional<int>(7));
}

TEST(WaitFor, RethrowsTheExceptionOfATaskThatFailsInTime) {
  EXPECT_THROW(lesson6::run(lesson6::wait_for(fail_after(0ms, "failed"), 10s)), std::runtime_error);
}

TEST(WaitFor, OfATaskThatReturnsNothingSaysWhetherItEndedInTime) {
  bool flag = false;
  EXPECT_TRUE(lesson6::run(lesson6::wait_for(set_after(0ms, &flag), 10s)));
  EXPECT_FALSE(lesson6::run(lesson6::wait_for(set_after(10s, &flag), 10ms)));
}

Task<int> read_while_holding_a_counted(const lesson6::Socket& socket) {
  const Counted counted;
  co_return static_cast<int>((co_await read_text(socket)).size());
}

struct Abandoned {
  bool timed_out;
  int counted_alive_after;
  std::string read_after;
};

Task<Abandoned> abandon_a_reader_then_read(const SocketPair& sockets) {
  Abandoned result{};
  const std::optional<int> nothing =
      co_await lesson6::wait_for(read_while_holding_a_counted(sockets.ours), 20ms);
  result.timed_out = !nothing.has_value();
  result.counted_alive_after = Counted::live;
  // The abandoned read gave the socket back: another one may wait on it.
  lesson6::spawn(send_later(sockets.theirs, "later"));
  result.read_after = co_await read_text(sockets.ours);
  co_return result;
}

TEST(WaitFor, DestroysATaskStillRunningWhenTheTimeIsUpWhichGivesBackWhatItWaitedFor) {
  Counted::live = 0;
  const SocketPair sockets = make_socket_pair();
  const Abandoned result = lesson6::run(abandon_a_reader_then_read(sockets));
  EXPECT_TRUE(result.timed_out);
  EXPECT_EQ(result.counted_alive_after, 0);
  EXPECT_EQ(result.read_after, "later");
}

Task<void> wait_for_fifty_tasks_that_end_next_turn() {
  for (int limit = 10; limit < 60; ++limit)
    co_await lesson6::wait_for(value_after(0ms, limit), std::chrono::milliseconds(limit));
}

TEST(WaitFor, TakesItsTimerBackWhenTheTaskEndsInTime) {
  lesson6::EventLoop loop;  // turned by hand here, one run_once() at a time
  Task<void> waits = wait_for_fifty_tasks_that_end_next_turn();
  waits.start();
  for (int turn = 0; turn < 1000 && !waits.done(); ++turn)
    loop.run_once();
  ASSERT_TRUE(waits.done());
  // A time limit left behind would wake the loop up at its deadline.
  EXPECT_LE(turns_until_a_timer_runs(loop, 100ms), 2);
}

}  // namespace
