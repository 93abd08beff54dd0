// Lesson 6, part 2 of the runtime: the event loop that drives Tasks, and the
// functions a program calls: run(), spawn(), sleep().
// (Read task.hpp first; next: gather.hpp, then io.hpp.)
//
// The loop is lesson 3's again (a Selector on epoll, callbacks per
// descriptor), plus two queues that lesson 3 did not need:
// - scheduled coroutines, to resume on the next turn (asyncio's call_soon);
// - timers: a min-heap of deadlines on the steady clock (asyncio's
//   call_later), which is what sleep() waits on.
// One turn of the loop (run_once) waits for I/O, but never past the next
// timer and not at all when coroutines are scheduled; then it runs the
// callbacks of the ready descriptors, then the timers that are due, then the
// scheduled coroutines.
//
// A coroutine suspended on a socket is resumed from its descriptor's
// callback; one suspended in sleep() from its timer's callback. Between two
// suspensions a coroutine runs alone: there is one thread and nobody else
// runs until it reaches its next co_await.
//
// Once a coroutine has waited on a socket, the loop keeps the kernel
// watching it, even between waits: an echo server waits to read the same
// socket for every message, and telling epoll "watch it" and "stop" each
// time would cost two system calls per message (lesson 3 sets it once too;
// asyncio's transports keep their reader registered the same way). Two rules
// keep that sound. The loop drops an event only when the kernel reports it
// and nobody waits for it: epoll is level-triggered, so it would report it
// again on every turn. And a socket tells the loop before it is closed
// (lesson6::Socket, io.hpp, calls forget()): the loop would otherwise believe
// that a new socket which gets the same number is watched already.
#pragma once

#include <chrono>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <queue>
#include <unordered_map>
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

// Something suspended until a descriptor is ready: the awaiters of io.hpp.
class IoWaiter {
 public:
  // The descriptor looks ready. The waiter tries its call again and returns
  // the coroutine to resume if it went through; or, if it found EAGAIN after
  // all (readiness can be stale), a null handle: it keeps waiting.
  virtual std::coroutine_handle<> on_ready() = 0;

 protected:
  ~IoWaiter() = default;
};

class EventLoop {
 public:
  using Clock = std::chrono::steady_clock;
  using TimerId = std::uint64_t;

  // Becomes the current loop of this thread until it is destroyed. --trace
  // narration goes through `trace`.
  explicit EventLoop(common::Tracer trace = common::Tracer(false));
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // The loop of this thread (run() makes one); throws std::logic_error
  // when there is none. running() returns null instead.
  static EventLoop& current();
  static EventLoop* running() noexcept;

  // Descriptors, straight to the Selector, for code written with callbacks
  // (libcurl's socket callback, for one).
  void watch(int fd, lesson3::EventMask events, lesson3::Callback callback);
  void modify_watch(int fd, lesson3::EventMask events);
  void unwatch(int fd);  // tolerates a descriptor that is already closed

  // Descriptors, for coroutines: wake `waiter` when fd is ready for `event`
  // (event_read or event_write; one waiter per direction and descriptor).
  // A waiter leaves when it is resumed, or destroyed (remove_waiter); the
  // descriptor stays watched, for the next one.
  void add_waiter(int fd, lesson3::EventMask event, IoWaiter& waiter);
  void remove_waiter(int fd, lesson3::EventMask event, const IoWaiter& waiter) noexcept;
  // Call it before closing fd: the loop stops watching it, so that a new
  // descriptor with the same number starts clean. Socket does it for you.
  void forget(int fd) noexcept;

  // Python: loop.call_later(delay, callback). A timer runs once; cancel()
  // of one that ran already does nothing.
  TimerId call_later(std::chrono::milliseconds delay, std::function<void()> callback);
  void cancel(TimerId timer);

  // Python: loop.call_soon(handle.resume): resume it on the next turn.
  void schedule(std::coroutine_handle<> coroutine);
  // Takes a schedule() back: for a coroutine destroyed before its turn came.
  void unschedule(std::coroutine_handle<> coroutine) noexcept;

  // Python: asyncio.create_task(task), minus the handle to await it: the task
  // starts on the next turn and runs on its own. An exception that ends it is
  // reported on standard error.
  void spawn(Task<void> task);

  // One turn of the loop; false once a stop signal has arrived.
  bool run_once();
  // Destroys the spawned tasks that have not finished, newest first, running
  // the destructors of everything alive in their frames (asyncio.run cancels
  // them likewise when the main task ends).
  void destroy_remaining_tasks();

  const common::Tracer& trace() const { return trace_; }

 private:
  struct Timer {
    Clock::time_point deadline;
    TimerId id;  // equal deadlines run in the order they were set
    auto operator<=>(const Timer&) const = default;
  };
  struct Waiters {
    IoWaiter* reader = nullptr;
    IoWaiter* writer = nullptr;
    lesson3::EventMask watched = 0;  // what the Selector watches: the waiters' events, or more
    bool registered = false;         // with the Selector (perhaps watching nothing)
  };

  std::chrono::milliseconds time_until_next_timer() const;  // there is one
  void run_due_timers();
  void run_scheduled();
  void on_descriptor_ready(int fd, lesson3::EventMask ready);
  void watch_for(int fd, lesson3::EventMask event);

  common::Tracer trace_;
  std::unique_ptr<lesson3::Selector> selector_;
  bool stopping_ = false;

  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  std::unordered_map<TimerId, std::function<void()>> timer_callbacks_;  // cancelled: erased
  TimerId next_timer_id_ = 0;

  std::vector<std::coroutine_handle<>> scheduled_;
  std::vector<std::coroutine_handle<>> running_;  // this turn's share of scheduled_

  std::vector<Waiters> waiters_;  // indexed by descriptor, like the Selector's table

  // Every spawned task's frame until it ends; each frame knows its place here
  // so that it can leave the list when it ends.
  std::list<std::coroutine_handle<>> spawned_;
};

// Python: asyncio.create_task(task) on the current loop.
void spawn(Task<void> task);

// Python: await asyncio.sleep(seconds). The coroutine stays suspended until a
// timer that long has run; the loop serves everybody else meanwhile.
class Sleep {
 public:
  explicit Sleep(std::chrono::milliseconds duration) : duration_(duration) {}
  Sleep(const Sleep&) = delete;  // the timer's callback holds our address
  Sleep& operator=(const Sleep&) = delete;
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
    if (duration_ <= std::chrono::milliseconds(0)) {
      // Python: asyncio.sleep(0) just yields: back of the queue, behind every
      // coroutine already scheduled.
      EventLoop::current().schedule(sleeper);
      return;
    }
    timer_ = EventLoop::current().call_later(duration_, [this] { sleeper_.resume(); });
  }
  void await_resume() noexcept { sleeper_ = {}; }  // awake: nothing to take back

 private:
  std::chrono::milliseconds duration_;
  std::coroutine_handle<> sleeper_;          // set while it sleeps
  std::optional<EventLoop::TimerId> timer_;  // none for sleep(0), which only yields
};

inline Sleep sleep(std::chrono::milliseconds duration) {
  return Sleep(duration);
}

// Python: asyncio.run(main()). Creates the loop, runs `main` until it ends and
// returns its value or rethrows its exception. Spawned tasks still running
// then are destroyed. On SIGINT or SIGTERM every suspended task is destroyed
// (their destructors run: sockets close, memory is freed) and run() throws
// Stopped. It installs common/'s stop handlers (a server installs them
// earlier, before it prints "listening on", so that no signal finds none).
template <typename T>
T run(Task<T> main, common::Tracer trace = common::Tracer(false)) {
  EventLoop loop(trace);
  // Declared after the loop, so that the main frame, and everything it
  // awaits, is destroyed while the loop still exists.
  Task<T> task = std::move(main);
  task.start();
  // Spawned tasks are destroyed first, they may use what the main task owns;
  // also when a callback of the loop throws, which would destroy `task` next.
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
