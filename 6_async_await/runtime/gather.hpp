// Lesson 6's runtime, part 3: waiting for several tasks at once, gather(), or
// for one with a time limit, wait_for(). (Next, io.hpp: sockets.)
//
//   std::vector<int> sizes = co_await gather(std::move(downloads));
//   std::optional<int> size = co_await wait_for(download(), 500ms);
//
// Python: results = await asyncio.gather(*tasks). gather() starts every task
// (each runs up to its first suspension), and only then awaits them one by
// one, so they all make progress together: it takes as long as the slowest,
// not the sum. The results come in the order of the tasks; if some throw,
// gather() still waits for all, then rethrows the first in the list's.
#pragma once

#include <chrono>
#include <concepts>
#include <coroutine>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "6_async_await/runtime/event_loop.hpp"
#include "6_async_await/runtime/task.hpp"

namespace lesson6 {

template <typename T>
requires(!std::is_void_v<T>) Task<std::vector<T>> gather(std::vector<Task<T>> tasks) {
  for (Task<T>& task : tasks)
    task.start();
  std::vector<T> results;
  std::exception_ptr first_error;
  for (Task<T>& task : tasks) {
    try {
      results.push_back(co_await task);
    } catch (...) {
      if (!first_error) first_error = std::current_exception();
    }
  }
  if (first_error) std::rethrow_exception(first_error);
  co_return results;
}

inline Task<void> gather(std::vector<Task<void>> tasks) {
  for (Task<void>& task : tasks)
    task.start();
  std::exception_ptr first_error;
  for (Task<void>& task : tasks) {
    try {
      co_await task;
    } catch (...) {
      if (!first_error) first_error = std::current_exception();
    }
  }
  if (first_error) std::rethrow_exception(first_error);
}

// gather(task_a(), task_b()), for tasks that return nothing.
template <std::same_as<Task<void>>... Tasks>
Task<void> gather(Tasks... tasks) {
  std::vector<Task<void>> all;
  (all.push_back(std::move(tasks)), ...);
  return gather(std::move(all));
}

namespace detail {

// co_await task and a sleep at once: whichever ends first resumes us.
template <typename T>
struct TimeLimit {
  typename Task<T>::Awaiter task;
  Sleep limit;  // still sleeping at the end? Its destructor takes the timer back

  bool await_ready() const noexcept { return task.await_ready(); }
  bool await_suspend(std::coroutine_handle<> awaiting) {
    if (!task.await_suspend(awaiting)) return false;  // it ended at once
    limit.await_suspend(awaiting);
    return true;
  }
  void await_resume() const noexcept {}
};

}  // namespace detail

// asyncio.wait_for(task, timeout) raises TimeoutError when the time is up;
// here the answer is empty then (false for a Task<void>): a late task is an
// ordinary outcome, not an error. The task, if still running, is destroyed at
// once, which takes back whatever it waited for (asyncio cancels it likewise).
template <typename T>
using TimeLimited = std::conditional_t<std::is_void_v<T>, bool, std::optional<T>>;

template <typename T>
Task<TimeLimited<T>> wait_for(Task<T> task, std::chrono::milliseconds limit) {
  co_await detail::TimeLimit<T>{task.operator co_await(), Sleep(limit)};
  if (!task.done()) {
    const Task<T> late = std::move(task);
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
