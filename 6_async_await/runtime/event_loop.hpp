// Lesson 6's runtime, part 2: the event loop, and what a program calls on
// it: run(), spawn(), sleep(). (Next, event_loop.cpp: how it works; then
// gather.hpp: waiting for several tasks at once.)
//
// One turn, run_once(), is asyncio's _run_once(): wait on lesson 3's Selector
// (epoll), no longer than until the next timer and not at all while
// coroutines are scheduled; run the callbacks of the ready descriptors (a
// socket's resumes the tasks waiting on it); run the timers that are due
// (call_later; sleep() sets one); resume the coroutines scheduled before this
// turn (call_soon). Between two co_awaits a task runs alone: there is one
// thread, and nobody else runs until it suspends again.
//
// Sockets are edge-triggered: the kernel tells of a change (data came, room
// to write) once, not on every turn while it lasts. So a socket is registered
// once, the first time a task waits on it, and stays so until it closes; a
// task waits for the kernel only after its call met EAGAIN; and the loop
// remembers, per socket, whether a read may find data.
#pragma once

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

// A socket call that a coroutine awaits (io.hpp): the loop makes the call
// when the socket may be ready, and resumes `awaiting` once it went through.
class IoWaiter {
 public:
  // A read shorter than its buffer has emptied the socket (tokio's rule).
  enum class Attempt { would_block, done, done_and_emptied };
  virtual Attempt attempt() = 0;
  std::coroutine_handle<> awaiting;  // set while it waits

 protected:
  ~IoWaiter() = default;
};

class EventLoop {
 public:
  using Clock = std::chrono::steady_clock;
  struct TimerId {  // ordered by deadline, then by the order they were set in
    Clock::time_point deadline;
    std::uint64_t number;
    auto operator<=>(const TimerId&) const = default;
  };

  // Becomes this thread's loop until it is destroyed; --trace narrates
  // through `trace`.
  explicit EventLoop(common::Tracer trace = common::Tracer(false));
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;
  static EventLoop* running() noexcept { return this_thread_loop_; }  // null without one
  static EventLoop& current() {  // throws std::logic_error without one
    if (this_thread_loop_ == nullptr) throw std::logic_error("no event loop: run() makes one");
    return *this_thread_loop_;
  }

  // Descriptors with a callback, level-triggered as in lesson 3: libcurl's.
  void watch(int fd, lesson3::EventMask events, lesson3::Callback callback);
  void modify_watch(int fd, lesson3::EventMask events);
  void unwatch(int fd);  // fine once closed; leaves a Socket's descriptor alone

  // Sockets, for io.hpp: `waiter` makes its call (event_read or event_write)
  // when it can go through. A read that may find data makes it now, and its
  // coroutine goes on next turn; any other waiter tries at each edge.
  void wait(int fd, lesson3::EventMask event, IoWaiter& waiter);
  void stop_waiting(int fd, lesson3::EventMask event, const IoWaiter& waiter) noexcept;
  void forget(int fd) noexcept;  // the socket is about to close

  // Python: loop.call_later(delay, callback). The loop reads the clock once
  // per turn: timers set in one turn with one delay are due together.
  TimerId call_later(std::chrono::milliseconds delay, std::function<void()> callback);
  void cancel(TimerId timer);  // does nothing once the timer has run

  // Python: loop.call_soon(coroutine.resume); unschedule() takes it back.
  void schedule(std::coroutine_handle<> coroutine);
  void unschedule(std::coroutine_handle<> coroutine) noexcept;

  // Python: asyncio.create_task(task), minus the handle to await it. The task
  // starts next turn; an exception that ends it goes to standard error.
  void spawn(Task<void> task);

  bool run_once();                 // one turn; false once a stop signal came
  void destroy_remaining_tasks();  // the spawned ones, newest first

 private:
  struct SocketState {
    IoWaiter* reader = nullptr;
    IoWaiter* writer = nullptr;
    bool readable = false;     // an edge came, and no read has emptied the socket since
    bool peer_closed = false;  // a read finds the end (or an error) at once, ever after
    bool registered = false;   // with the Selector, edge-triggered
  };

  void register_socket(int fd);
  bool attempt(SocketState& socket, lesson3::EventMask event, IoWaiter& waiter);
  void on_edge(int fd, lesson3::EventMask ready);
  void try_to_resume(int fd, lesson3::EventMask event);
  Clock::time_point now();
  void run_due_timers();
  void run_scheduled();

  static inline thread_local EventLoop* this_thread_loop_ = nullptr;
  common::Tracer trace_;
  std::unique_ptr<lesson3::Selector> selector_;
  bool stopping_ = false;
  std::vector<SocketState> sockets_;  // by descriptor
  std::map<TimerId, std::function<void()>> timers_;
  std::uint64_t timers_set_ = 0;
  std::optional<Clock::time_point> now_;  // this turn's, once read
  std::vector<std::coroutine_handle<>> scheduled_;
  std::vector<std::coroutine_handle<>> running_;  // this turn's share of scheduled_
  std::list<std::coroutine_handle<>> spawned_;    // each frame until it ends
};

void spawn(Task<void> task);  // Python: asyncio.create_task(task), on the current loop

// Python: await asyncio.sleep(seconds): a timer resumes the task. sleep(0)
// only yields: the task goes behind every coroutine scheduled already.
class Sleep {
 public:
  explicit Sleep(std::chrono::milliseconds duration) : duration_(duration) {}
  Sleep(const Sleep&) = delete;
  // A task destroyed while it sleeps takes back what would have woken it.
  ~Sleep() {
    EventLoop* const loop = EventLoop::running();
    if (!sleeper_ || loop == nullptr) return;
    if (timer_) {
      loop->cancel(*timer_);
    } else {
      loop->unschedule(sleeper_);
    }
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
  std::coroutine_handle<> sleeper_;          // set while it sleeps
  std::optional<EventLoop::TimerId> timer_;  // none for sleep(0)
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
  Task<T> task = std::move(main);  // destroyed, with all it awaits, before the loop
  task.start();
  // Spawned tasks are destroyed first, as they may use what `task` owns.
  try {
    while (!task.done() && loop.run_once()) {
    }
  } catch (...) {
    loop.destroy_remaining_tasks();
    throw;
  }
  loop.destroy_remaining_tasks();
  if (!task.done()) throw Stopped();
  return task.result();
}

}  // namespace lesson6
