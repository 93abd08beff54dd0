// Lesson 6's runtime, part 2 continued: the event loop at work. (Next,
// gather.hpp: waiting for several tasks at once, or for one with a limit.)
#include "6_async_await/runtime/event_loop.hpp"

#include <algorithm>
#include <iostream>
#include <stdexcept>
#include <utility>

#include "common/stop_signal.hpp"

namespace lesson6 {

using lesson3::event_read;
using lesson3::event_write;
using lesson3::EventMask;

namespace {

// The coroutine that carries a spawned task: it reports the exception nobody
// else will await, and its frame frees itself at the end (final_suspend does
// not suspend), leaving the loop's list on the way.
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
  if (this_thread_loop_ != nullptr) throw std::logic_error("an event loop is already running");
  common::install_stop_handlers();  // the self-pipe turns readable at SIGINT or SIGTERM
  selector_->register_fd(common::stop_fd(), event_read, [this](EventMask) { stopping_ = true; });
  this_thread_loop_ = this;
}

EventLoop::~EventLoop() {
  destroy_remaining_tasks();
  this_thread_loop_ = nullptr;
}

void EventLoop::watch(int fd, EventMask events, lesson3::Callback callback) {
  selector_->register_fd(fd, events, std::move(callback));
}

void EventLoop::modify_watch(int fd, EventMask events) {
  selector_->modify(fd, events);
}

// libcurl may close a socket before it says so, and a Socket may have been
// given its number meanwhile: that registration is not libcurl's to remove.
void EventLoop::unwatch(int fd) {
  if (fd >= 0 && static_cast<std::size_t>(fd) < sockets_.size() && sockets_[fd].registered) return;
  selector_->unregister(fd);
}

void EventLoop::wait(int fd, EventMask event, IoWaiter& waiter) {
  if (fd < 0) throw std::invalid_argument("cannot wait on a closed socket");
  if (static_cast<std::size_t>(fd) >= sockets_.size() || !sockets_[fd].registered) {
    register_socket(fd);
  }
  SocketState& socket = sockets_[fd];
  IoWaiter*& slot = event == event_read ? socket.reader : socket.writer;
  if (slot != nullptr) throw std::logic_error("two tasks wait on one socket");
  if (event == event_read && socket.readable && attempt(socket, event, waiter)) {
    trace_("fd ", fd, ": read at once; the task goes on next turn");
    return schedule(waiter.awaiting);
  }
  trace_("a task waits until fd ", fd, event == event_read ? " is readable" : " is writable");
  slot = &waiter;
}

// Once per socket, for both directions and for a hang-up of the peer.
void EventLoop::register_socket(int fd) {
  if (static_cast<std::size_t>(fd) >= sockets_.size()) sockets_.resize(fd + 1);
  selector_->unregister(fd);  // libcurl's, if it closed a socket of this number unannounced
  selector_->register_fd(
      fd, event_read | event_write | lesson3::event_hangup,
      [this, fd](EventMask ready) { on_edge(fd, ready); }, lesson3::Trigger::edge);
  sockets_[fd].registered = true;
}

// Makes the waiter's call; a read also learns whether it emptied the socket.
bool EventLoop::attempt(SocketState& socket, EventMask event, IoWaiter& waiter) {
  const IoWaiter::Attempt result = waiter.attempt();
  if (event == event_read && !socket.peer_closed)
    socket.readable = result == IoWaiter::Attempt::done;
  return result != IoWaiter::Attempt::would_block;
}

// The kernel tells of a change (a hang-up or an error counts as both
// readable and writable): each waiter makes its call, and resumes if it went
// through. Looked up afresh each time: a resumed task may have closed this
// socket, or opened others.
void EventLoop::on_edge(int fd, EventMask ready) {
  if ((ready & lesson3::event_hangup) != 0) sockets_[fd].peer_closed = true;
  if ((ready & event_read) != 0) {
    sockets_[fd].readable = true;
    if (sockets_[fd].reader != nullptr) try_to_resume(fd, event_read);
  }
  if ((ready & event_write) != 0 && sockets_[fd].writer != nullptr) try_to_resume(fd, event_write);
}

void EventLoop::try_to_resume(int fd, EventMask event) {
  SocketState& socket = sockets_[fd];
  IoWaiter*& slot = event == event_read ? socket.reader : socket.writer;
  IoWaiter* const waiter = slot;
  if (!attempt(socket, event, *waiter)) return;
  slot = nullptr;
  trace_("fd ", fd, event == event_read ? " is readable" : " is writable", ": resuming its task");
  waiter->awaiting.resume();
}

// For a waiter destroyed before it went through, or before its turn came.
void EventLoop::stop_waiting(int fd, EventMask event, const IoWaiter& waiter) noexcept {
  if (static_cast<std::size_t>(fd) < sockets_.size()) {
    IoWaiter*& slot = event == event_read ? sockets_[fd].reader : sockets_[fd].writer;
    if (slot == &waiter) slot = nullptr;
  }
  unschedule(waiter.awaiting);
}

void EventLoop::forget(int fd) noexcept {
  if (fd < 0 || static_cast<std::size_t>(fd) >= sockets_.size() || !sockets_[fd].registered) return;
  trace_("fd ", fd, " is about to close: no longer watching it");
  selector_->unregister(fd);
  sockets_[fd] = {};
}

EventLoop::Clock::time_point EventLoop::now() {
  if (!now_) now_ = Clock::now();
  return *now_;
}

EventLoop::TimerId EventLoop::call_later(std::chrono::milliseconds delay,
                                         std::function<void()> callback) {
  const TimerId timer{now() + std::max(delay, std::chrono::milliseconds(0)), ++timers_set_};
  timers_.emplace(timer, std::move(callback));
  return timer;
}

// Out at once, so that the loop never wakes up for it.
void EventLoop::cancel(TimerId timer) {
  timers_.erase(timer);
}

void EventLoop::schedule(std::coroutine_handle<> coroutine) {
  scheduled_.push_back(coroutine);
}

// It may be in this turn's share already, which run_scheduled() is going
// through: there its place is only emptied.
void EventLoop::unschedule(std::coroutine_handle<> coroutine) noexcept {
  std::erase(scheduled_, coroutine);
  std::replace(running_.begin(), running_.end(), coroutine, std::coroutine_handle<>());
}

void EventLoop::spawn(Task<void> task) {
  const std::coroutine_handle<Detached::promise_type> frame = supervise(std::move(task)).handle;
  frame.promise().spawned = &spawned_;
  frame.promise().place = spawned_.insert(spawned_.end(), frame);
  trace_("spawned a task; it starts next turn");
  schedule(frame);
}

void spawn(Task<void> task) {
  EventLoop::current().spawn(std::move(task));
}

bool EventLoop::run_once() {
  std::optional<std::chrono::milliseconds> timeout;  // none: as long as it takes
  if (!scheduled_.empty()) {
    timeout = std::chrono::milliseconds(0);
  } else if (!timers_.empty()) {
    // Rounded up: waking a little early would only spin until the deadline.
    timeout = std::max(std::chrono::ceil<std::chrono::milliseconds>(
                           timers_.begin()->first.deadline - Clock::now()),
                       std::chrono::milliseconds(0));
    trace_("waiting for I/O, at most ", timeout->count(), " ms (the next timer)");
  } else {
    trace_("waiting for I/O, no timer pending");
  }
  const std::span<const lesson3::ReadyEvent> ready = selector_->select(timeout);
  now_.reset();  // time passed while we waited
  for (const lesson3::ReadyEvent& event : ready) {
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

// A timer that these callbacks set, even for 0 ms, waits for the next turn.
void EventLoop::run_due_timers() {
  const std::uint64_t set_before = timers_set_;
  while (!timers_.empty() && timers_.begin()->first.number <= set_before &&
         timers_.begin()->first.deadline <= now()) {
    // Out of the table before it runs: it may set or cancel timers itself.
    const std::function<void()> callback = std::move(timers_.begin()->second);
    timers_.erase(timers_.begin());
    trace_("a timer is due: running it");
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
  scheduled_.clear();           // whatever is still queued belonged to those frames
}

}  // namespace lesson6
