// Lesson 7's runtime (7_io_uring/runtime/), in this process: what its loop
// submits and brings back in one turn, who owns a buffer until its
// completion, short sends, timers. Skipped, saying why, where io_uring is refused.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <optional>
#include <regex>
#include <span>
#include <stdexcept>
#include <string>
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

class UringRuntimeTest : public testing::Test {
 protected:
  void SetUp() override {
    if (!echo_servers::io_uring_refusal().empty()) {
      GTEST_SKIP() << "io_uring is refused here: " << echo_servers::io_uring_refusal();
    }
  }
};

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

}  // namespace
