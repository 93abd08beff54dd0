// Lesson 6's runtime, part 2: the event loop, with run(), spawn() and sleep().
// (Next, event_loop.cpp: the loop at work.) One turn, run_once(), is asyncio's
// _run_once(): wait on lesson 3's Selector (epoll), not past the next timer;
// then run what is ready, the timers due, and the coroutines scheduled so far.
// Like asyncio's loop and lesson 3's, it is level-triggered: a task waits for
// its socket, and the loop makes the task's call once the Selector says the
// socket is ready. A socket is registered for what its waiting tasks want.
#pragma once

#include <chrono>
#include <coroutine>
#include <cstdint>
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
#include "observer/observer.hpp"

namespace lesson6 {

struct Stopped {};  // what run() throws at a stop signal: no error, so no std::exception

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

  // For io.hpp: `waiter` makes its call once fd is ready for `event`.
  void wait(int fd, lesson3::EventMask event, IoWaiter& waiter);
  void stop_waiting(int fd, lesson3::EventMask event, const IoWaiter& waiter) noexcept;
  void forget(int fd) noexcept;  // the socket is about to close
  // Whether a task waits on fd for `event`: then no other may use it for that.
  bool is_waited_on(int fd, lesson3::EventMask event) const {
    return fd >= 0 && fd < std::ssize(sockets_) && (wanted(fd) & event) != 0;
  }

  // asyncio's loop.call_later(); a timer's callback sees its deadline as now.
  TimerId call_later(std::chrono::milliseconds delay, std::function<void()> callback);
  void cancel(TimerId timer) { timers_.erase(timer); }  // at once; nothing if it has run
  // asyncio's loop.call_soon(coroutine.resume), resumed on `track` (task.hpp's
  // running_track); unschedule() takes it back.
  void schedule(std::coroutine_handle<> coroutine, observer::Track track = running_track) {
    scheduled_.push_back({coroutine, track});
  }
  void unschedule(std::coroutine_handle<> coroutine) noexcept {  // its place is emptied
    for (Scheduled& entry : scheduled_)
      if (entry.coroutine == coroutine) entry.coroutine = {};
  }
  // Resumes a task, on its track, until it waits again.
  void resume(std::coroutine_handle<> task, observer::Track track) {
    running_track = track;
    task.resume();
    running_track = observer::Timeline::loop;
  }
  void spawn(Task<void> task);  // lesson6::spawn(), below

  bool run_once();                 // one turn; false once a stop signal came
  void destroy_remaining_tasks();  // the spawned ones, newest first

 private:
  struct SocketState {  // from a socket's first wait until it closes
    IoWaiter* reader = nullptr;
    IoWaiter* writer = nullptr;
    lesson3::EventMask watched = 0;  // what the Selector watches it for
    bool registered = false;         // with the Selector, perhaps for nothing
  };
  struct Scheduled {
    std::coroutine_handle<> coroutine;  // none once unscheduled
    observer::Track track;
  };
  IoWaiter*& slot(int fd, lesson3::EventMask event) {  // fd's reader or writer
    return event == lesson3::event_read ? sockets_[fd].reader : sockets_[fd].writer;
  }
  lesson3::EventMask wanted(int fd) const {  // what fd's waiters wait for
    return (sockets_[fd].reader != nullptr ? lesson3::event_read : 0) |
           (sockets_[fd].writer != nullptr ? lesson3::event_write : 0);
  }
  void update_registrations();
  void on_ready(int fd, lesson3::EventMask ready);
  void run_due_timers();
  void run_scheduled();

  static inline thread_local EventLoop* this_thread_loop_ = nullptr;
  std::unique_ptr<lesson3::Selector> selector_;
  bool stopping_ = false;
  std::vector<SocketState> sockets_;  // by descriptor
  std::vector<int> changed_;          // sockets whose waiters changed since the last wait
  std::map<TimerId, std::function<void()>> timers_;
  std::uint64_t timers_set_ = 0;
  std::optional<Clock::time_point> now_;  // this turn's time, once read
  std::vector<Scheduled> scheduled_;
  std::list<std::coroutine_handle<>> spawned_;  // each frame until it ends
};

// Python: asyncio.create_task(task), minus a handle to await: the task is
// scheduled to start, and an exception that ends it goes to standard error.
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
    // Not on the loop's own track, where a wait would say that the loop blocks.
    if (!is_the_loops(running_track))
      observer::wait(running_track, "sleeps ", duration.count(), " ms");
    wake_later(coroutine);
  }
  void await_resume() noexcept { sleeper = {}; }  // awake: nothing to take back

  // Resumes `coroutine` on its track once the time is up (wait_for() uses it alone).
  void wake_later(std::coroutine_handle<> coroutine) {
    sleeper = coroutine;
    if (duration <= std::chrono::milliseconds(0)) return EventLoop::current().schedule(coroutine);
    timer = EventLoop::current().call_later(
        duration, [coroutine, track = running_track, milliseconds = duration.count()] {
          observer::run(track, "its ", milliseconds, " ms are up");
          EventLoop::current().resume(coroutine, track);
        });
  }

  std::chrono::milliseconds duration;
  std::coroutine_handle<> sleeper = {};  // set while it sleeps
  EventLoop::TimerId timer = {};         // none for sleep(0)
};

inline Sleep sleep(std::chrono::milliseconds duration) {
  return Sleep{duration};
}

// Python: asyncio.run(main()): makes the loop, runs `main` to its end, and
// returns its value or rethrows its exception. At a stop signal (SIGINT,
// SIGTERM, SIGHUP) it throws Stopped. Either way every task left is destroyed,
// spawned ones first.
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
