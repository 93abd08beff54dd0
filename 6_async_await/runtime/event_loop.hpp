// Lesson 6's runtime, part 2: the event loop, with run(), spawn() and sleep().
// (Next, event_loop.cpp: the loop at work.) One turn, run_once(), is asyncio's
// _run_once(): wait on lesson 3's Selector (epoll), not past the next timer;
// then run what is ready, the timers due, and the coroutines scheduled so
// far. Sockets are edge-triggered: the kernel tells of a change once, so a
// task waits only after its call met EAGAIN.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>

#include "3_async_with_callbacks/selector.hpp"
#include "6_async_await/runtime/task.hpp"  // and what it includes: <coroutine>, <vector>...
#include "observer/observer.hpp"

namespace lesson6 {

struct Stopped {};  // what run() throws at SIGINT or SIGTERM: no error, so no std::exception

class IoWaiter;  // a socket call that a coroutine awaits (io.hpp)

class EventLoop {
 public:
  using Clock = std::chrono::steady_clock;
  struct TimerId {  // in deadline order, then in the order they were set
    Clock::time_point deadline;
    std::uint64_t number = 0;
    auto operator<=>(const TimerId&) const = default;
  };

  EventLoop();  // the thread's till destroyed
  ~EventLoop();
  static EventLoop* running() noexcept { return this_thread_loop_; }  // null without one
  static EventLoop& current() {  // throws std::logic_error without one
    if (this_thread_loop_ == nullptr) throw std::logic_error("no event loop: run() makes one");
    return *this_thread_loop_;
  }

  // For descriptors with callbacks (libcurl's). unwatch() leaves a Socket's
  // alone: libcurl may say it closed a socket after a Socket took its number.
  lesson3::Selector& selector() { return *selector_; }
  void unwatch(int fd) {
    if (fd >= std::ssize(sockets_) || !sockets_[fd].registered) selector_->unregister(fd);
  }

  // For io.hpp: `waiter` makes its call once it can go through.
  void wait(int fd, lesson3::EventMask event, IoWaiter& waiter);
  void stop_waiting(int fd, lesson3::EventMask event, const IoWaiter& waiter) noexcept;
  void forget(int fd) noexcept;  // the socket is about to close

  // asyncio's loop.call_later(); a timer's callback sees its deadline as now.
  TimerId call_later(std::chrono::milliseconds delay, std::function<void()> callback);
  void cancel(TimerId timer) { timers_.erase(timer); }  // at once; nothing if it has run
  // asyncio's loop.call_soon(coroutine.resume); unschedule() takes it back.
  void schedule(std::coroutine_handle<> coroutine) { scheduled_.push_back(coroutine); }
  void unschedule(std::coroutine_handle<> coroutine) noexcept {  // its place is emptied
    std::replace(scheduled_.begin(), scheduled_.end(), coroutine, std::coroutine_handle<>());
  }
  void spawn(Task<void> task);  // lesson6::spawn(), below

  bool run_once();                 // one turn; false once a stop signal came
  void destroy_remaining_tasks();  // the spawned ones, newest first

 private:
  struct SocketState {  // from a socket's first wait until it closes
    IoWaiter* reader = nullptr;
    IoWaiter* writer = nullptr;
    bool readable = false;     // an edge came, and no read has emptied it since
    bool peer_closed = false;  // so a read finds the end (or an error) at once
    bool registered = false;   // with the Selector
  };
  IoWaiter*& slot(int fd, lesson3::EventMask event) {  // fd's reader or writer
    return event == lesson3::event_read ? sockets_[fd].reader : sockets_[fd].writer;
  }
  void on_edge(int fd, lesson3::EventMask ready);
  void run_due_timers();
  void run_scheduled();

  static inline thread_local EventLoop* this_thread_loop_ = nullptr;
  std::unique_ptr<lesson3::Selector> selector_;
  bool stopping_ = false;
  std::vector<SocketState> sockets_;  // by descriptor
  std::map<TimerId, std::function<void()>> timers_;
  std::uint64_t timers_set_ = 0;
  std::optional<Clock::time_point> now_;  // this turn's time, once read
  std::vector<std::coroutine_handle<>> scheduled_;
  std::vector<int> may_hold_data_;              // sockets whose readers wait for no edge
  std::list<std::coroutine_handle<>> spawned_;  // each frame until it ends
};

// Python: asyncio.create_task(task), minus a handle to await: the task starts
// next turn, and an exception that ends it goes to standard error.
inline void spawn(Task<void> task) {
  EventLoop::current().spawn(std::move(task));
}

// Python: await asyncio.sleep(seconds): a timer resumes the task. sleep(0)
// only yields: the task goes behind every coroutine scheduled already.
struct Sleep {
  ~Sleep() {  // a task destroyed while asleep takes back what would wake it
    if (EventLoop* const loop = EventLoop::running(); loop != nullptr && sleeper) {
      loop->unschedule(sleeper);
      loop->cancel(timer);
    }
  }
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> coroutine) {
    sleeper = coroutine;
    if (duration <= std::chrono::milliseconds(0)) return EventLoop::current().schedule(sleeper);
    timer = EventLoop::current().call_later(duration, [coroutine] { coroutine.resume(); });
  }
  void await_resume() noexcept { sleeper = {}; }  // awake: nothing to take back

  std::chrono::milliseconds duration;
  std::coroutine_handle<> sleeper = {};  // set while it sleeps
  EventLoop::TimerId timer = {};         // none for sleep(0)
};

inline Sleep sleep(std::chrono::milliseconds duration) {
  return Sleep{duration};
}

// Python: asyncio.run(main()): makes the loop, runs `main` to its end, and
// returns its value or rethrows its exception. At SIGINT or SIGTERM it
// throws Stopped. Either way every task left is destroyed, spawned ones first.
template <typename T>
T run(Task<T> main) {
  EventLoop loop;
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
  return task.await_resume();  // what co_await would give: its value, or its exception
}

}  // namespace lesson6
