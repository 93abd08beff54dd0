// Lesson 6, part 3 of the runtime: gather(), waiting for several tasks at once.
// (Read task.hpp and event_loop.hpp first; next: io.hpp.)
//
//   std::vector<int> sizes = co_await gather(std::move(downloads));
//   co_await gather(print_numbers(), print_seconds());
//
// Python: results = await asyncio.gather(*tasks). gather() starts every task
// first (each runs up to its first suspension), and only then waits for them
// one by one. While it waits for the first, the others are suspended in the
// loop too, so they all make progress together: the wait lasts as long as the
// slowest task, not the sum of them all.
//
// The results come in the order of the tasks, whatever order they finish in.
// If tasks throw, gather() still waits for every one of them, then rethrows
// the exception of the first in the list that threw.
#pragma once

#include <concepts>
#include <exception>
#include <type_traits>
#include <utility>
#include <vector>

#include "6_async_await/runtime/task.hpp"

namespace lesson6 {

template <typename T>
requires(!std::is_void_v<T>) Task<std::vector<T>> gather(std::vector<Task<T>> tasks) {
  for (Task<T>& task : tasks)
    task.start();
  std::vector<T> results;
  results.reserve(tasks.size());
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

}  // namespace lesson6
