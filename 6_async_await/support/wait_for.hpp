// Waiting for a task with a time limit, asyncio.wait_for(), built on the
// runtime's Task and sleep(); a first reading may skip this file.
//
//   std::optional<int> size = co_await wait_for(download(), 500ms);
//
// asyncio.wait_for(task, timeout) raises TimeoutError when the time is up;
// here the answer is empty then (false for a Task<void>): a late task is an
// ordinary outcome, not an error. The task, if still running, is destroyed at
// once, which takes back whatever it waited for (asyncio cancels it likewise).
// --trace and --timeline tell the limit on the awaiting task's track.
#pragma once

#include <chrono>
#include <coroutine>
#include <optional>
#include <type_traits>
#include <utility>

#include "6_async_await/runtime/event_loop.hpp"
#include "6_async_await/runtime/task.hpp"
#include "observer/observer.hpp"

namespace lesson6 {

namespace detail {

// co_await task and a sleep at once: whichever ends first resumes us.
template <typename T>
struct TimeLimit {
  Task<T>& task;
  Sleep limit;  // still sleeping at the end? Its destructor takes the timer back

  bool await_ready() const noexcept { return task.await_ready(); }
  bool await_suspend(std::coroutine_handle<> awaiting) {
    if (!task.await_suspend(awaiting)) return false;  // it ended at once
    limit.wake_later(awaiting);
    return true;
  }
  void await_resume() const noexcept {}
};

}  // namespace detail

template <typename T>
using TimeLimited = std::conditional_t<std::is_void_v<T>, bool, std::optional<T>>;

template <typename T>
Task<TimeLimited<T>> wait_for(Task<T> task, std::chrono::milliseconds limit) {
  if (!is_the_loops(running_track))
    observer::note(running_track, "wait_for() gives its task ", limit.count(), " ms");
  co_await detail::TimeLimit<T>{task, Sleep{limit}};
  if (!task.done()) {
    const Task<T> late = std::move(task);  // destroyed here: what it waits for goes back now
    co_return TimeLimited<T>{};
  }
  if constexpr (std::is_void_v<T>) {
    co_await task;
    co_return true;
  } else {
    co_return co_await task;
  }
}

}  // namespace lesson6
