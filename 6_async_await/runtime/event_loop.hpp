// Lesson 6's runtime, part 2: the event loop, and run(), spawn(), sleep().
// (Next, event_loop.cpp: the loop at work.)
//
// One turn, run_once(), is asyncio's _run_once(): wait on lesson 3's Selector
// (epoll), but not past the next timer, nor at all while coroutines are
// scheduled; run the callbacks of the ready descriptors (a socket's resumes
// the tasks that wait on it); run the timers that are due; resume the
// coroutines scheduled before the turn.
//
// Sockets are edge-triggered: the kernel tells of a change (data came, room
// to write) once, not on every turn while it lasts. So a socket is registered
// once, at its first wait, until it closes; a task waits for the kernel only
// after its call met EAGAIN; and the loop notes whether a read may find data.
#pragma once

#include <algorithm>
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "3_async_with_callbacks/selector.hpp"
#include "6_async_await/runtime/task.hpp"
#include "common/command_line.hpp"

namespace lesson6 {

// What run() throws when SIGINT or SIGTERM stopped the loop.
class Stopped : public std::exception {
 public:
  const char* what() const noexcept override { return "stopped by SIGINT or SIGTERM"; }
};

class IoWaiter;  // a socket call that a coroutine awaits (io.hpp)

class EventLoop {
 public:
  using Clock = std::chrono::steady_clock;
  struct TimerId {  // in deadline order, then in the order they were set
    Clock::time_point deadline;
    std::uint64_t number = 0;
    auto operator<=>(const TimerId&) const = default;
  };

  // Becomes this thread's loop until it is destroyed. --trace narrates
  // through `trace`.
  explicit EventLoop(common::Tracer trace = common::Tracer(false));
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  static EventLoop* running() noexcept { return this_thread_loop_; }  // null without one
  static EventLoop& current() {  // throws std::logic_error without one
    if (this_thread_loop_ == nullptr) throw std::logic_error("no event loop: run() makes one");
    return *this_thread_loop_;
  }

  // For descriptors with callbacks, as in lesson 3 (libcurl's). unwatch()
  // leaves a Socket's alone: libcurl may close a socket and only then say so,
  // when a Socket may have been given its number already.
  lesson3::Selector& selector() { return *selector_; }
  void unwatch(int fd) {
    if (static_cast<std::size_t>(fd) >= sockets_.size() || !sockets_[fd].registered) {
      selector_->unregister(fd);
    }
  }

  // Sockets, for io.hpp: `waiter` is to make its call (event_read or
  // event_write) when it can go through.
  void wait(int fd, lesson3::EventMask event, IoWaiter& waiter);
  void stop_waiting(int fd, lesson3::EventMask event, const IoWaiter& waiter) noexcept;
  void forget(int fd) noexcept;  // the socket is about to close

  // asyncio's loop.call_later(delay, callback). The loop reads the clock once
  // a turn, and a timer's callback sees its deadline as the time.
  TimerId call_later(std::chrono::milliseconds delay, std::function<void()> callback);
  void cancel(TimerId timer) { timers_.erase(timer); }  // at once; nothing if it has run
  // asyncio's loop.call_soon(coroutine.resume); unschedule() takes it back.
  void schedule(std::coroutine_handle<> coroutine) { scheduled_.push_back(coroutine); }
  void unschedule(std::coroutine_handle<> coroutine) noexcept {  // its place is emptied
    std::replace(scheduled_.begin(), scheduled_.end(), coroutine, std::coroutine_handle<>());
  }
  // Python: asyncio.create_task(task), minus the handle to await it (we have
  // no task objects to keep; the loop keeps the frame until it ends). The task
  // starts next turn; an exception that ends it goes to standard error.
  void spawn(Task<void> task);

  bool run_once();                 // one turn; false once a stop signal came
  void destroy_remaining_tasks();  // the spawned ones, newest first

 private:
  struct SocketState {
    IoWaiter* reader = nullptr;
    IoWaiter* writer = nullptr;
    bool readable = false;     // an edge came, and no read has emptied it since
    bool peer_closed = false;  // so a read finds the end (or an error) at once
    bool registered = false;   // with the Selector
  };
  IoWaiter*& slot(int fd, lesson3::EventMask event);  // fd's reader or writer
  void on_edge(int fd, lesson3::EventMask ready);
  bool attempt(int fd, lesson3::EventMask event, IoWaiter& waiter);
  void run_due_timers();
  void run_scheduled();

  static inline thread_local EventLoop* this_thread_loop_ = nullptr;
  common::Tracer trace_;
  std::unique_ptr<lesson3::Selector> selector_;
  bool stopping_ = false;
  std::vector<SocketState> sockets_;  // by descriptor
  std::map<TimerId, std::function<void()>> timers_;
  std::uint64_t timers_set_ = 0;
  std::optional<Clock::time_point> now_;  // this turn's time, once read
  std::vector<std::coroutine_handle<>> scheduled_;
  std::list<std::coroutine_handle<>> spawned_;  // each frame until it ends
};

// Python: asyncio.create_task(task), on the current loop.
inline void spawn(Task<void> task) {
  EventLoop::current().spawn(std::move(task));
}

// Python: await asyncio.sleep(seconds): a timer resumes the task. sleep(0)
// only yields: the task goes behind every coroutine scheduled already.
class Sleep {
 public:
  explicit Sleep(std::chrono::milliseconds duration) : duration_(duration) {}
  Sleep(const Sleep&) = delete;
  ~Sleep() {  // a task destroyed while asleep takes back what would wake it
    EventLoop* const loop = EventLoop::running();
    if (!sleeper_ || loop == nullptr) return;
    loop->unschedule(sleeper_);
    loop->cancel(timer_);
  }

  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> sleeper) {
    sleeper_ = sleeper;
    if (duration_ <= std::chrono::milliseconds(0)) return EventLoop::current().schedule(sleeper);
    timer_ = EventLoop::current().call_later(duration_, [sleeper] { sleeper.resume(); });
  }
  void await_resume() noexcept { sleeper_ = {}; }  // awake: nothing to take back

 private:
  std::chrono::milliseconds duration_;
  std::coroutine_handle<> sleeper_;  // set while it sleeps
  EventLoop::TimerId timer_;         // none for sleep(0)
};

inline Sleep sleep(std::chrono::milliseconds duration) {
  return Sleep(duration);
}

// Python: asyncio.run(main()): makes the loop, runs `main` to its end, and
// returns its value or rethrows its exception; spawned tasks still running
// then are destroyed. At SIGINT or SIGTERM every task is destroyed (their
// destructors close sockets, free memory) and run() throws Stopped.
template <typename T>
T run(Task<T> main, common::Tracer trace = common::Tracer(false)) {
  EventLoop loop(trace);
  Task<T> task = std::move(main);  // goes before the loop, with all it awaits
  task.start();
  try {
    while (!task.done() && loop.run_once()) {
    }
  } catch (...) {
    loop.destroy_remaining_tasks();  // first, as they may use what `task` owns
    throw;
  }
  loop.destroy_remaining_tasks();
  if (!task.done()) throw Stopped();
  return task.result();
}

}  // namespace lesson6
