// Lesson 4's Scheduler on its own: the order in which tasks run, when a
// waiting task is resumed, and when tasks are destroyed. The tasks here are
// small hand-written generators that write what happens into a log, and the
// sockets are socket pairs in this process. Every case runs on both Selector
// backends.

#include "4_generators/scheduler.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "3_async_with_callbacks/selector.hpp"
#include "common/command_line.hpp"
#include "common/net.hpp"
#include "tests/program.hpp"

namespace {

using lesson4::Scheduler;
using lesson4::Wait;
using lesson4::wait_to_read;
using lesson4::wait_to_write;
using testing::ElementsAre;
using Log = std::vector<std::string>;
using namespace std::chrono_literals;

// The stop descriptor of every case: a timer that turns readable when a task
// calls expire_now(), or after ten seconds, so that a case whose tasks never
// finish ends anyway (and fails on what its log lacks).
class StopTimer {
 public:
  StopTimer() : timer_(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) {
    if (!timer_) throw std::system_error(errno, std::generic_category(), "timerfd_create");
    arm(10s);
  }
  int fd() const { return timer_.get(); }
  void expire_now() { arm(1ns); }

 private:
  void arm(std::chrono::nanoseconds delay) {
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(delay);
    itimerspec when{};
    when.it_value.tv_sec = seconds.count();
    when.it_value.tv_nsec = (delay - seconds).count();
    if (timerfd_settime(timer_.get(), 0, &when, nullptr) < 0) {
      throw std::system_error(errno, std::generic_category(), "timerfd_settime");
    }
  }

  common::FileDescriptor timer_;
};

// Logs "<name> destroyed" when the task that owns it is destroyed (moved-from
// copies stay silent).
class DestructionWitness {
 public:
  DestructionWitness(Log& log, std::string name) : log_(&log), name_(std::move(name)) {}
  DestructionWitness(DestructionWitness&& other) noexcept
      : log_(std::exchange(other.log_, nullptr)), name_(std::move(other.name_)) {}
  DestructionWitness& operator=(DestructionWitness&&) = delete;
  ~DestructionWitness() {
    if (log_ != nullptr) log_->push_back(name_ + " destroyed");
  }

 private:
  Log* log_;
  std::string name_;
};

// Runs once and finishes without ever waiting.
class FinishingTask {
 public:
  FinishingTask(Log& log, std::string name)
      : log_(&log), name_(name), witness_(log, std::move(name)) {}

  std::optional<Wait> next() {
    log_->push_back(name_ + " ran");
    return std::nullopt;
  }

 private:
  Log* log_;
  std::string name_;
  DestructionWitness witness_;
};

// Spawns a FinishingTask the first time it runs, then finishes itself.
class SpawningTask {
 public:
  SpawningTask(Log& log, Scheduler& scheduler) : log_(&log), scheduler_(&scheduler) {}

  std::optional<Wait> next() {
    log_->push_back("parent ran");
    scheduler_->spawn(FinishingTask(*log_, "child"));
    return std::nullopt;
  }

 private:
  Log* log_;
  Scheduler* scheduler_;
};

// Waits until its socket is readable, reads what came, stops the scheduler and
// finishes. Resumed too early, it would find nothing to read.
class ReadingTask {
 public:
  ReadingTask(Log& log, int fd, StopTimer& stop) : log_(&log), fd_(fd), stop_(&stop) {}

  std::optional<Wait> next() {
    if (!waiting_) {
      waiting_ = true;
      log_->push_back("reader waits");
      return wait_to_read(fd_);
    }
    char bytes[16];
    const ssize_t received = recv(fd_, bytes, sizeof bytes, 0);
    log_->push_back(received > 0 ? "reader got " + std::string(bytes, received)
                                 : "reader resumed with nothing to read");
    stop_->expire_now();
    return std::nullopt;
  }

 private:
  Log* log_;
  int fd_;
  StopTimer* stop_;
  bool waiting_ = false;
};

// Waits until its socket is writable, sends a message and finishes.
class WritingTask {
 public:
  WritingTask(Log& log, int fd, std::string message)
      : log_(&log), fd_(fd), message_(std::move(message)) {}

  std::optional<Wait> next() {
    if (!waiting_) {
      waiting_ = true;
      log_->push_back("writer waits");
      return wait_to_write(fd_);
    }
    const ssize_t sent = send(fd_, message_.data(), message_.size(), 0);
    log_->push_back(sent == static_cast<ssize_t>(message_.size()) ? "writer sent " + message_
                                                                  : "writer could not send");
    return std::nullopt;
  }

 private:
  Log* log_;
  int fd_;
  std::string message_;
  bool waiting_ = false;
};

// Waits to read, then to write the same socket, then stops the scheduler.
class ReadThenWriteTask {
 public:
  ReadThenWriteTask(Log& log, int fd, StopTimer& stop) : log_(&log), fd_(fd), stop_(&stop) {}

  std::optional<Wait> next() {
    switch (step_++) {
      case 0:
        return wait_to_read(fd_);
      case 1: {
        // Reading the byte leaves the socket writable but no longer readable.
        char byte = 0;
        log_->push_back(recv(fd_, &byte, 1, 0) == 1 ? "resumed to read" : "nothing to read");
        return wait_to_write(fd_);
      }
      default:
        log_->push_back("resumed to write");
        stop_->expire_now();
        return std::nullopt;
    }
  }

 private:
  Log* log_;
  int fd_;
  StopTimer* stop_;
  int step_ = 0;
};

// Waits to write, sends one byte and logs what send() found, twice; then
// stops the scheduler.
class OneByteWriter {
 public:
  OneByteWriter(Log& log, int fd, StopTimer& stop) : log_(&log), fd_(fd), stop_(&stop) {}

  std::optional<Wait> next() {
    if (sends_ > 0) {
      const bool sent = send(fd_, "x", 1, 0) == 1;
      log_->push_back(sent ? "writer sent" : "writer found the socket full");
    }
    if (sends_++ == 2) {
      stop_->expire_now();
      return std::nullopt;
    }
    return wait_to_write(fd_);
  }

 private:
  Log* log_;
  int fd_;
  StopTimer* stop_;
  int sends_ = 0;
};

// Waits to read, then reads all there is, and finishes.
class Drainer {
 public:
  Drainer(Log& log, int fd) : log_(&log), fd_(fd) {}

  std::optional<Wait> next() {
    if (!waiting_) {
      waiting_ = true;
      return wait_to_read(fd_);
    }
    char bytes[64 * 1024];
    while (recv(fd_, bytes, sizeof bytes, 0) > 0) {
    }
    log_->push_back("drainer drained");
    return std::nullopt;
  }

 private:
  Log* log_;
  int fd_;
  bool waiting_ = false;
};

// Waits to read a socket that never becomes readable.
class ForeverTask {
 public:
  ForeverTask(Log& log, int fd) : fd_(fd), witness_(log, "waiting task") {}

  std::optional<Wait> next() { return wait_to_read(fd_); }

 private:
  int fd_;
  DestructionWitness witness_;
};

class SchedulerTest : public testing::TestWithParam<lesson3::Backend> {
 protected:
  std::unique_ptr<lesson3::Selector> selector_ = lesson3::make_selector(GetParam());
  StopTimer stop_;
  Log log_;
};

TEST_P(SchedulerTest, RunsATaskThatFinishesAtOnceAndDestroysItThen) {
  Scheduler scheduler(*selector_);
  scheduler.spawn(FinishingTask(log_, "task"));
  stop_.expire_now();
  scheduler.run_until_readable(stop_.fd());
  log_.push_back("run returned");
  EXPECT_THAT(log_, ElementsAre("task ran", "task destroyed", "run returned"));
}

TEST_P(SchedulerTest, RunsTasksInTheOrderTheyWereSpawned) {
  Scheduler scheduler(*selector_);
  for (const char* name : {"first", "second", "third"})
    scheduler.spawn(FinishingTask(log_, name));
  stop_.expire_now();
  scheduler.run_until_readable(stop_.fd());
  EXPECT_THAT(log_, ElementsAre("first ran", "first destroyed", "second ran", "second destroyed",
                                "third ran", "third destroyed"));
}

TEST_P(SchedulerTest, RunsATaskSpawnedByAnotherBeforeItWaitsForSockets) {
  Scheduler scheduler(*selector_);
  scheduler.spawn(SpawningTask(log_, scheduler));
  // The stop timer has fired already: the child runs only because it joins
  // the pass that is running, before the scheduler looks at any descriptor.
  stop_.expire_now();
  scheduler.run_until_readable(stop_.fd());
  EXPECT_THAT(log_, ElementsAre("parent ran", "child ran", "child destroyed"));
}

TEST_P(SchedulerTest, ResumesAWaitingTaskOnlyOnceItsSocketIsReady) {
  const test_support::SocketPair sockets = test_support::make_socket_pair();
  Scheduler scheduler(*selector_);
  scheduler.spawn(ReadingTask(log_, sockets.ours.get(), stop_));
  scheduler.spawn(WritingTask(log_, sockets.theirs.get(), "ping"));
  scheduler.run_until_readable(stop_.fd());
  EXPECT_THAT(log_,
              ElementsAre("reader waits", "writer waits", "writer sent ping", "reader got ping"));
}

TEST_P(SchedulerTest, ResumesATaskForWritingAfterItWaitedForReading) {
  const test_support::SocketPair sockets = test_support::make_socket_pair();
  ASSERT_EQ(send(sockets.theirs.get(), "x", 1, 0), 1);
  Scheduler scheduler(*selector_);
  scheduler.spawn(ReadThenWriteTask(log_, sockets.ours.get(), stop_));
  scheduler.run_until_readable(stop_.fd());
  EXPECT_THAT(log_, ElementsAre("resumed to read", "resumed to write"));
}

// A task's first wait to write is let through without asking the Selector:
// the writer runs again at once and finds its socket full. Only its next
// wait to write waits for the Selector, until the drainer has made room.
TEST_P(SchedulerTest, LetsAFirstWaitToWriteThroughAtOnceAndMakesTheNextWaitForTheSocket) {
  const test_support::SocketPair sockets = test_support::make_socket_pair();
  const std::vector<char> block(64 * 1024, 'x');
  for (int attempt = 0; attempt < 1000; ++attempt) {
    if (send(sockets.ours.get(), block.data(), block.size(), 0) < 0) break;
  }
  ASSERT_EQ(send(sockets.ours.get(), "x", 1, 0), -1) << "the socket did not fill up";
  Scheduler scheduler(*selector_);
  scheduler.spawn(OneByteWriter(log_, sockets.ours.get(), stop_));
  scheduler.spawn(Drainer(log_, sockets.theirs.get()));
  scheduler.run_until_readable(stop_.fd());
  EXPECT_THAT(log_, ElementsAre("writer found the socket full", "drainer drained", "writer sent"));
}

TEST_P(SchedulerTest, DestroysTheTasksStillWaitingWhenItIsDestroyed) {
  const test_support::SocketPair sockets = test_support::make_socket_pair();
  {
    Scheduler scheduler(*selector_);
    scheduler.spawn(ForeverTask(log_, sockets.ours.get()));
    stop_.expire_now();
    scheduler.run_until_readable(stop_.fd());
    log_.push_back("run returned");
  }
  EXPECT_THAT(log_, ElementsAre("run returned", "waiting task destroyed"));
  // Its socket was unregistered first: registering it again is no error.
  EXPECT_NO_THROW(selector_->register_fd(sockets.ours.get(), lesson3::event_read, [](auto) {}));
}

INSTANTIATE_TEST_SUITE_P(Backends, SchedulerTest,
                         testing::Values(lesson3::Backend::epoll, lesson3::Backend::poll),
                         [](const testing::TestParamInfo<lesson3::Backend>& info) {
                           return info.param == lesson3::Backend::epoll ? "epoll" : "poll";
                         });

}  // namespace
