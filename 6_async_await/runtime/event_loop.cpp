#include "6_async_await/runtime/event_loop.hpp"

#include <algorithm>
#include <iostream>
#include <stdexcept>
#include <utility>

#include "common/stop_signal.hpp"

namespace lesson6 {

namespace {

thread_local EventLoop* current_loop = nullptr;

// The coroutine that carries a spawned task. It reports the exception that
// nobody else will await, and its frame frees itself at the end
// (final_suspend does not suspend), leaving the loop's list on the way.
struct Detached {
  struct promise_type {
    Detached get_return_object() {
      return {std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    std::suspend_never final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    void unhandled_exception() const noexcept { std::terminate(); }  // supervise() catches all

    ~promise_type() { spawned->erase(place); }

    std::list<std::coroutine_handle<>>* spawned = nullptr;
    std::list<std::coroutine_handle<>>::iterator place;
  };

  std::coroutine_handle<promise_type> handle;
};

Detached supervise(Task<void> task) {
  try {
    co_await task;
  } catch (const std::exception& error) {
    std::cerr << "lesson6: a spawned task failed: " << error.what() << '\n';
  } catch (...) {
    std::cerr << "lesson6: a spawned task failed with an unknown exception\n";
  }
}

}  // namespace

EventLoop::EventLoop(common::Tracer trace)
    : trace_(trace), selector_(lesson3::make_selector(lesson3::Backend::epoll)) {
  if (current_loop != nullptr) throw std::logic_error("an event loop is already running");
  // The self-pipe turns readable at SIGINT or SIGTERM, like any socket.
  common::install_stop_handlers();
  selector_->register_fd(common::stop_fd(), lesson3::event_read,
                         [this](lesson3::EventMask) { stopping_ = true; });
  current_loop = this;
}

EventLoop::~EventLoop() {
  destroy_remaining_tasks();
  current_loop = nullptr;
}

EventLoop& EventLoop::current() {
  if (current_loop == nullptr)
    throw std::logic_error("no event loop on this thread (lesson6::run() makes one)");
  return *current_loop;
}

EventLoop* EventLoop::running() noexcept {
  return current_loop;
}

void EventLoop::watch(int fd, lesson3::EventMask events, lesson3::Callback callback) {
  selector_->register_fd(fd, events, std::move(callback));
}

void EventLoop::modify_watch(int fd, lesson3::EventMask events) {
  selector_->modify(fd, events);
}

void EventLoop::unwatch(int fd) {
  selector_->unregister(fd);
}

// A waiter costs a system call only when the kernel does not watch its event
// already: on the first wait, and after on_descriptor_ready() stopped it.
void EventLoop::add_waiter(int fd, lesson3::EventMask event, IoWaiter& waiter) {
  if (fd < 0) throw std::invalid_argument("cannot wait on a closed socket");
  if (static_cast<std::size_t>(fd) >= waiters_.size()) waiters_.resize(fd + 1);
  IoWaiter*& slot = event == lesson3::event_read ? waiters_[fd].reader : waiters_[fd].writer;
  if (slot != nullptr) throw std::logic_error("two tasks wait on one descriptor");
  trace_("a task waits until fd ", fd,
         event == lesson3::event_read ? " is readable" : " is writable");
  if ((waiters_[fd].watched & event) == 0) watch_for(fd, event);
  slot = &waiter;
}

// The descriptor is registered with the Selector the first time, with a
// callback that wakes its waiters, and stays registered until forget().
void EventLoop::watch_for(int fd, lesson3::EventMask event) {
  Waiters& waiters = waiters_[fd];
  if (!waiters.registered) {
    selector_->register_fd(
        fd, event, [this, fd](lesson3::EventMask ready) { on_descriptor_ready(fd, ready); });
    waiters.registered = true;
  } else {
    selector_->modify(fd, waiters.watched | event);
  }
  waiters.watched |= event;
}

// For a task destroyed while it waits. The kernel goes on watching;
// on_descriptor_ready() stops that when it finds nobody waiting.
void EventLoop::remove_waiter(int fd, lesson3::EventMask event, const IoWaiter& waiter) noexcept {
  if (fd < 0 || static_cast<std::size_t>(fd) >= waiters_.size()) return;
  IoWaiter*& slot = event == lesson3::event_read ? waiters_[fd].reader : waiters_[fd].writer;
  // After forget(), the slot may be a new socket's, with the same number.
  if (slot == &waiter) slot = nullptr;
}

void EventLoop::forget(int fd) noexcept {
  if (fd < 0 || static_cast<std::size_t>(fd) >= waiters_.size()) return;
  if (!waiters_[fd].registered) return;
  trace_("fd ", fd, " is about to close: no longer watching it");
  selector_->unregister(fd);
  waiters_[fd] = {};
}

void EventLoop::on_descriptor_ready(int fd, lesson3::EventMask ready) {
  // Look the waiters up afresh each time: the first one resumed may add
  // waiters for other descriptors, which can move the table, or close this
  // one. A waiter leaves its slot before it resumes, so that it can wait
  // again at once (an echo server's does), while the kernel goes on watching.
  if ((ready & lesson3::event_read) != 0 && waiters_[fd].reader != nullptr) {
    trace_("fd ", fd, " is readable: resuming the task waiting to read it");
    if (const std::coroutine_handle<> reader = waiters_[fd].reader->on_ready()) {
      waiters_[fd].reader = nullptr;
      reader.resume();
    }
  }
  if ((ready & lesson3::event_write) != 0 && waiters_[fd].writer != nullptr) {
    trace_("fd ", fd, " is writable: resuming the task waiting to write to it");
    if (const std::coroutine_handle<> writer = waiters_[fd].writer->on_ready()) {
      waiters_[fd].writer = nullptr;
      writer.resume();
    }
  }
  // Ready, and nobody waits for it (any more): stop watching that event, or
  // level-triggered epoll would report it on every turn and the loop would
  // spin. The next waiter for it turns the watching on again.
  Waiters& waiters = waiters_[fd];
  const lesson3::EventMask waited_for = (waiters.reader != nullptr ? lesson3::event_read : 0) |
                                        (waiters.writer != nullptr ? lesson3::event_write : 0);
  const lesson3::EventMask unwanted = ready & waiters.watched & ~waited_for;
  if (unwanted == 0) return;
  trace_("fd ", fd, " is ready to ", lesson3::describe(unwanted),
         " and no task waits for that: no longer watching it");
  waiters.watched &= ~unwanted;
  selector_->modify(fd, waiters.watched);
}

EventLoop::TimerId EventLoop::call_later(std::chrono::milliseconds delay,
                                         std::function<void()> callback) {
  const TimerId id = ++next_timer_id_;
  timers_.push({Clock::now() + delay, id});
  timer_callbacks_.emplace(id, std::move(callback));
  return id;
}

// The heap cannot remove an entry from its middle; the entry stays until its
// deadline and is skipped then, because its callback is gone.
void EventLoop::cancel(TimerId timer) {
  timer_callbacks_.erase(timer);
}

void EventLoop::schedule(std::coroutine_handle<> coroutine) {
  scheduled_.push_back(coroutine);
}

// The coroutine may be in this turn's share already: run_scheduled() is
// iterating that one, so its place is only emptied, not removed.
void EventLoop::unschedule(std::coroutine_handle<> coroutine) noexcept {
  std::erase(scheduled_, coroutine);
  std::replace(running_.begin(), running_.end(), coroutine, std::coroutine_handle<>());
}

void EventLoop::spawn(Task<void> task) {
  const std::coroutine_handle<Detached::promise_type> frame = supervise(std::move(task)).handle;
  frame.promise().spawned = &spawned_;
  frame.promise().place = spawned_.insert(spawned_.end(), frame);
  trace_("spawned a task; it starts on the next turn");
  schedule(frame);
}

void spawn(Task<void> task) {
  EventLoop::current().spawn(std::move(task));
}

// Python: asyncio's BaseEventLoop._run_once()
bool EventLoop::run_once() {
  std::optional<std::chrono::milliseconds> timeout;  // none: wait for as long as it takes
  if (!scheduled_.empty()) {
    timeout = std::chrono::milliseconds(0);  // only look, do not wait
  } else if (!timers_.empty()) {
    timeout = time_until_next_timer();
  }
  if (!timeout) {
    trace_("waiting for I/O, no timer pending");
  } else if (timeout->count() > 0) {
    trace_("waiting for I/O, at most ", timeout->count(), " ms (the next timer)");
  }
  for (const lesson3::ReadyEvent& event : selector_->select(timeout)) {
    selector_->dispatch(event);
  }
  if (stopping_) {
    trace_("stop signal: destroying every task");
    return false;
  }
  if (!timers_.empty()) run_due_timers();
  if (!scheduled_.empty()) run_scheduled();
  return true;
}

std::chrono::milliseconds EventLoop::time_until_next_timer() const {
  // Rounded up: waking a little early would only spin until the deadline.
  const auto remaining =
      std::chrono::ceil<std::chrono::milliseconds>(timers_.top().deadline - Clock::now());
  return std::max(remaining, std::chrono::milliseconds(0));
}

void EventLoop::run_due_timers() {
  const Clock::time_point now = Clock::now();
  while (!timers_.empty() && timers_.top().deadline <= now) {
    const TimerId id = timers_.top().id;
    timers_.pop();
    const auto found = timer_callbacks_.find(id);
    if (found == timer_callbacks_.end()) continue;  // cancelled
    // Out of the table before it runs: it may set or cancel timers itself.
    const std::function<void()> callback = std::move(found->second);
    timer_callbacks_.erase(found);
    trace_("timer ", id, " is due: running it");
    callback();
  }
}

// What was scheduled before this turn runs now; what those coroutines
// schedule waits for the next turn, so that I/O is never starved.
void EventLoop::run_scheduled() {
  std::swap(scheduled_, running_);
  trace_("resuming ", running_.size(), " scheduled coroutine(s)");
  for (const std::coroutine_handle<> coroutine : running_) {
    if (coroutine) coroutine.resume();  // empty: unscheduled, its frame is gone
  }
  running_.clear();
}

void EventLoop::destroy_remaining_tasks() {
  while (!spawned_.empty())
    spawned_.back().destroy();  // each frame leaves the list
  // Whatever is still queued belonged to those frames.
  scheduled_.clear();
}

}  // namespace lesson6
