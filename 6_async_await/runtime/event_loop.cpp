// Lesson 6's runtime, part 3: the event loop at work. (Next, io.hpp: sockets.)
#include "6_async_await/runtime/event_loop.hpp"

#include <algorithm>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <iostream>
#include <list>
#include <optional>
#include <span>
#include <stdexcept>
#include <utility>

#include "3_async_with_callbacks/selector.hpp"
#include "6_async_await/runtime/io.hpp"
#include "6_async_await/runtime/task.hpp"
#include "common/stop_signal.hpp"
#include "observer/observer.hpp"

namespace lesson6 {

using lesson3::event_read;
using lesson3::event_write;
using lesson3::EventMask;

namespace {

// Carries a spawned task, to report the exception nobody else will await. Its
// frame is in the loop's list from the start until it frees itself at the end.
struct Detached {
  struct promise_type {
    promise_type(const Task<void>&, std::list<std::coroutine_handle<>>& spawned)
        : spawned(spawned),
          place(spawned.insert(spawned.end(),
                               std::coroutine_handle<promise_type>::from_promise(*this))) {}
    ~promise_type() { spawned.erase(place); }
    Detached get_return_object() const noexcept { return {}; }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    std::suspend_never final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    void unhandled_exception() const noexcept { std::terminate(); }  // supervise() catches all

    std::list<std::coroutine_handle<>>& spawned;
    std::list<std::coroutine_handle<>>::iterator place;
  };
};

// Its body never uses `spawned`: the list is for its promise. A coroutine's
// promise is made with the coroutine's arguments when it has a constructor
// that takes them, so the frame enters the list as it is made, and leaves it
// in the promise's destructor, whether the task ends or is destroyed.
Detached supervise(Task<void> task, [[maybe_unused]] std::list<std::coroutine_handle<>>& spawned) {
  try {
    co_await task;
  } catch (const std::exception& error) {
    std::cerr << "lesson6: a spawned task failed: " << error.what() << '\n';
  } catch (...) {
    std::cerr << "lesson6: a spawned task failed with an unknown exception\n";
  }
}

}  // namespace

EventLoop::EventLoop() : selector_(lesson3::make_selector(lesson3::Backend::epoll)) {
  if (this_thread_loop_ != nullptr) throw std::logic_error("an event loop is already running");
  common::install_stop_handlers();  // the self-pipe turns readable at a stop signal
  selector_->register_fd(common::stop_fd(), event_read, [this](EventMask) { stopping_ = true; });
  this_thread_loop_ = this;
}

EventLoop::~EventLoop() {
  destroy_remaining_tasks();
  this_thread_loop_ = nullptr;
}

void EventLoop::wait(int fd, EventMask event, IoWaiter& waiter) {
  if (fd < 0) throw std::invalid_argument("cannot wait on a closed socket");
  if (fd >= std::ssize(sockets_)) sockets_.resize(fd + 1);
  IoWaiter*& waiting = slot(fd, event);
  if (waiting != nullptr) throw std::logic_error("two tasks wait on one socket");
  waiting = &waiter;
  if ((sockets_[fd].watched & event) == 0) changed_.push_back(fd);  // registered before the wait
  observer::wait(fd, "a task waits until it is", event == event_read ? " readable" : " writable");
}

// For a waiter destroyed before its call went through.
void EventLoop::stop_waiting(int fd, EventMask event, const IoWaiter& waiter) noexcept {
  if (fd < 0 || slot(fd, event) != &waiter) return;  // wait() sized the table
  slot(fd, event) = nullptr;
  changed_.push_back(fd);
}

void EventLoop::forget(int fd) noexcept {
  if (fd >= std::ssize(sockets_)) return;
  if (sockets_[fd].registered) selector_->unregister(fd);
  sockets_[fd] = {};
}

// Once a turn, before the wait: each socket whose waiters changed is
// registered for what they wait for now. An echo's task waits to read again
// in the very turn it read, so its socket's registration stays as it was.
void EventLoop::update_registrations() {
  for (const int fd : changed_) {
    SocketState& socket = sockets_[fd];
    const EventMask events = wanted(fd);
    if (events == socket.watched) continue;  // changed back, or listed twice
    if (socket.registered) {
      selector_->modify(fd, events);
    } else {
      selector_->unregister(fd);  // libcurl's, if it closed its socket unannounced
      selector_->register_fd(fd, events, [this, fd](EventMask ready) { on_ready(fd, ready); });
      socket.registered = true;
    }
    socket.watched = events;
  }
  changed_.clear();
}

// A socket's callback. A hang-up or an error counts as readable and writable
// (the Selector says so), so each waiter's call finds out what happened. A
// task resumes once its call went through; a call that met EAGAIN after all
// (a report can be stale) leaves it waiting. The reader's task may close the
// socket or make others before the writer's turn: hence slot() afresh.
void EventLoop::on_ready(int fd, EventMask ready) {
  for (const EventMask event : {event_read, event_write}) {
    IoWaiter* const waiter = (ready & event) != 0 ? slot(fd, event) : nullptr;
    if (waiter == nullptr || !waiter->call()) continue;
    slot(fd, event) = nullptr;
    observer::note(fd, "resuming its task");
    resume(waiter->awaiting, fd);
  }
  // Its task most often waits again at once, for the same: then nothing changed.
  if (wanted(fd) != sockets_[fd].watched) changed_.push_back(fd);
}

EventLoop::TimerId EventLoop::call_later(std::chrono::milliseconds delay,
                                         std::function<void()> callback) {
  if (!now_) now_ = Clock::now();
  const TimerId timer{*now_ + std::max(delay, std::chrono::milliseconds(0)), ++timers_set_};
  return timers_.emplace(timer, std::move(callback)).first->first;
}

void EventLoop::spawn(Task<void> task) {
  supervise(std::move(task), spawned_);  // its frame is the list's last
  observer::note("spawned a task; it is scheduled to start");
  schedule(spawned_.back(), observer::Timeline::loop);  // its socket, if any, gives it a track
}

bool EventLoop::run_once() {
  if (!changed_.empty()) update_registrations();
  std::optional<std::chrono::milliseconds> timeout;  // none: as long as it takes
  if (!scheduled_.empty()) {
    timeout = std::chrono::milliseconds(0);
  } else if (!timers_.empty()) {
    // Rounded up: waking a little early would only spin until the deadline.
    const Clock::duration left = timers_.begin()->first.deadline - Clock::now();
    timeout = std::chrono::ceil<std::chrono::milliseconds>(std::max(left, Clock::duration(0)));
  }
  const std::span<const lesson3::ReadyEvent> ready = selector_->select(timeout);
  now_.reset();  // time passed while we waited
  for (const lesson3::ReadyEvent& event : ready)
    selector_->dispatch(event);
  if (stopping_) {
    observer::note("stop signal: destroying every task");
    return false;
  }
  if (!timers_.empty()) run_due_timers();
  if (!scheduled_.empty()) run_scheduled();
  return true;
}

// A timer's deadline is the time while it runs, so sleepers keep in step. A
// 0 ms timer that it sets waits for the next turn, lest it keep the loop.
void EventLoop::run_due_timers() {
  if (!now_) now_ = Clock::now();
  const Clock::time_point now = *now_;
  const std::uint64_t set_before = timers_set_;
  while (!timers_.empty()) {
    const TimerId next = timers_.begin()->first;
    const bool set_by_a_callback_for_0_ms = next.number > set_before && next.deadline <= *now_;
    if (next.deadline > now || set_by_a_callback_for_0_ms) break;
    now_ = next.deadline;
    // Out of the table before it runs: it may set or cancel timers itself.
    const std::function<void()> callback = std::move(timers_.begin()->second);
    timers_.erase(timers_.begin());
    observer::note("a timer is due: running it");
    callback();
  }
  now_ = now;
}

// Only what was scheduled so far, by earlier turns or by this one's callbacks
// and timers: what these schedule waits for the next turn, so I/O is never starved.
void EventLoop::run_scheduled() {
  const std::size_t count = scheduled_.size();
  observer::note("resuming ", count, " scheduled coroutine(s)");
  for (std::size_t i = 0; i < count; ++i) {
    const Scheduled next = scheduled_[i];  // a copy: a resumed task may schedule more
    if (!next.coroutine) continue;         // unscheduled: its frame is gone
    if (!is_the_loops(next.track)) observer::run(next.track, "resuming its task in its turn");
    resume(next.coroutine, next.track);
  }
  scheduled_.erase(scheduled_.begin(), scheduled_.begin() + static_cast<std::ptrdiff_t>(count));
}

void EventLoop::destroy_remaining_tasks() {
  while (!spawned_.empty())
    spawned_.back().destroy();  // each frame leaves the list
  scheduled_.clear();           // nothing queued may run any more
}

}  // namespace lesson6
