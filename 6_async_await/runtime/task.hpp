// Lesson 6's runtime, part 1: Task<T>, a coroutine that another one can
// co_await, and gather() to await several at once. (Next, event_loop.hpp:
// the loop that resumes tasks.)
//
//   Task<int> answer() { co_return 42; }
//   Task<void> main_task() { const int value = co_await answer(); ... }
//
// Lazy, like a Python coroutine object: answer() only makes the frame, and
// `co_await` starts it, waits for its end and gives its co_return value (or
// rethrows its exception). Destroying a Task destroys its frame, the locals
// alive in it and the tasks it awaits: that is how the runtime cancels.
#pragma once

#include <concepts>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

namespace lesson6 {

namespace detail {

struct PromiseBase {
  // At its end a task jumps straight to the coroutine awaiting it: returning
  // that coroutine (a "symmetric transfer") costs no stack, as resuming it
  // from here would. With nobody awaiting yet, it stays suspended at the end.
  struct FinalAwaiter {
    bool await_ready() const noexcept { return false; }
    template <typename Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> ended) const noexcept {
      const std::coroutine_handle<> continuation = ended.promise().continuation;
      return continuation ? continuation : std::noop_coroutine();
    }
    void await_resume() const noexcept {}
  };
  std::suspend_always initial_suspend() const noexcept { return {}; }  // lazy
  FinalAwaiter final_suspend() const noexcept { return {}; }
  void unhandled_exception() noexcept { exception = std::current_exception(); }

  std::coroutine_handle<> continuation;  // the coroutine awaiting this task
  std::exception_ptr exception;
  bool started = false;
};

// How a task ended: its value, or nothing for a Task<void>, or an exception.
template <typename T>
struct Outcome : PromiseBase {
  template <typename Value>
  void return_value(Value&& value) {
    result.emplace(std::forward<Value>(value));
  }
  T take_result() {  // the value moves out: it can be taken once
    if (exception) std::rethrow_exception(exception);
    if (!result) throw std::logic_error("the result of this Task was taken already");
    return *std::exchange(result, std::nullopt);
  }

  std::optional<T> result;
};

template <>
struct Outcome<void> : PromiseBase {
  void return_void() const noexcept {}
  void take_result() const {
    if (exception) std::rethrow_exception(exception);
  }
};

}  // namespace detail

template <typename T = void>
class [[nodiscard]] Task {
 public:
  struct promise_type : detail::Outcome<T> {
    Task get_return_object() { return Task(*this); }
  };

  explicit Task(promise_type& promise) : handle_(Handle::from_promise(promise)) {}
  Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  ~Task() {
    if (handle_) handle_.destroy();
  }

  // co_await task: start it (unless start() did) with a plain call, which
  // returns at its first suspension. If it has ended by then, the awaiting
  // coroutine just goes on: a million such co_awaits need the stack of one.
  struct Awaiter {
    std::coroutine_handle<promise_type> handle;

    bool await_ready() const noexcept { return handle.done(); }
    bool await_suspend(std::coroutine_handle<> awaiting) const {
      start(handle);
      if (handle.done()) return false;
      if (handle.promise().continuation) throw std::logic_error("two coroutines await one Task");
      handle.promise().continuation = awaiting;
      return true;
    }
    T await_resume() const { return handle.promise().take_result(); }
  };
  Awaiter operator co_await() const { return Awaiter{checked()}; }

  // Runs the task up to its first suspension now (gather() and run() do).
  void start() { start(checked()); }
  bool done() const { return handle_ && handle_.done(); }
  T result() const {  // of a task that is done(), for code that cannot co_await
    if (!done()) throw std::logic_error("result() of a Task that has not finished");
    return handle_.promise().take_result();
  }

 private:
  using Handle = std::coroutine_handle<promise_type>;
  static void start(Handle handle) {
    if (!std::exchange(handle.promise().started, true)) handle.resume();
  }
  Handle checked() const {
    if (!handle_) throw std::logic_error("a moved-from Task cannot run");
    return handle_;
  }

  Handle handle_;
};

// Python: results = await asyncio.gather(*tasks). It starts every task (each
// runs up to its first suspension), and only then awaits them one by one, so
// they all make progress together: it takes as long as the slowest, not the
// sum. The results come in the order of the tasks (Task<void>s give none); if
// some throw, gather() still waits for all, then rethrows the first in the list's.
template <typename T>
using Results = std::conditional_t<std::is_void_v<T>, void, std::vector<T>>;

template <typename T>
Task<Results<T>> gather(std::vector<Task<T>> tasks) {
  for (Task<T>& task : tasks)
    task.start();
  std::conditional_t<std::is_void_v<T>, std::nullptr_t, Results<T>> results{};
  std::exception_ptr first_error;
  for (Task<T>& task : tasks) {
    try {
      if constexpr (std::is_void_v<T>)
        co_await task;
      else
        results.push_back(co_await task);
    } catch (...) {
      if (!first_error) first_error = std::current_exception();
    }
  }
  if (first_error) std::rethrow_exception(first_error);
  if constexpr (!std::is_void_v<T>) co_return results;
}

// gather(task_a(), task_b()), for tasks that return nothing.
template <std::same_as<Task<void>>... Tasks>
Task<void> gather(Tasks... tasks) {
  std::vector<Task<void>> all;
  (all.push_back(std::move(tasks)), ...);
  return gather(std::move(all));
}

}  // namespace lesson6
