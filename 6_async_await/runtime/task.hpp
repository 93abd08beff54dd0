// Lesson 6's runtime, part 1: Task<T>, a coroutine that another one can
// co_await. (Next, event_loop.hpp: the loop that resumes tasks once what they
// wait for has happened.)
//
//   Task<int> answer() { co_return 42; }
//   Task<void> main_task() { const int value = co_await answer(); ... }
//
// A Task is lazy, like a Python coroutine object: answer() only makes its
// frame. `co_await task` starts it, suspends the awaiting coroutine until the
// task ends, then gives its co_return value or rethrows its exception.
//
// Starting is a plain resume(), which returns when the task first suspends.
// If it has ended by then, the awaiting coroutine goes straight on, so a
// million co_awaits of tasks that end at once need the stack of one. A task
// that did suspend jumps, when it ends, straight to the coroutine awaiting it:
// final_suspend returns that coroutine (a "symmetric transfer") rather than
// calling it. (Starting that way too, as cppcoro does, needs the compiler to
// make the jump a tail call, which g++ 12 does not at -O0 or under ASan.)
//
// A Task owns its frame: destroying the Task destroys the locals alive in the
// frame and the tasks it awaits. That is how the runtime cancels.
#pragma once

#include <coroutine>
#include <exception>
#include <stdexcept>
#include <utility>
#include <variant>

namespace lesson6 {

template <typename T = void>
class Task;

namespace detail {

struct PromiseBase {
  // Jump to the awaiting coroutine; with none yet, stay suspended at the end
  // (done() is true) and keep the result until somebody takes it.
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

  std::coroutine_handle<> continuation;  // the coroutine awaiting this task
  bool started = false;
};

template <typename T>
struct Promise : PromiseBase {
  Task<T> get_return_object() {
    return Task<T>(std::coroutine_handle<Promise>::from_promise(*this));
  }
  template <typename Value>
  void return_value(Value&& value) {
    result.template emplace<1>(std::forward<Value>(value));
  }
  void unhandled_exception() noexcept { result.template emplace<2>(std::current_exception()); }

  T take_result() {  // the value moves out: it can be taken once
    if (result.index() == 2) std::rethrow_exception(std::get<2>(result));
    if (result.index() == 0) throw std::logic_error("the result of this Task was taken already");
    T value = std::move(std::get<1>(result));
    result.template emplace<0>();
    return value;
  }

  std::variant<std::monostate, T, std::exception_ptr> result;
};

template <>
struct Promise<void> : PromiseBase {
  Task<void> get_return_object();
  void return_void() const noexcept {}
  void unhandled_exception() noexcept { exception = std::current_exception(); }

  void take_result() const {
    if (exception) std::rethrow_exception(exception);
  }

  std::exception_ptr exception;
};

}  // namespace detail

template <typename T>
class [[nodiscard]] Task {
 public:
  using promise_type = detail::Promise<T>;
  using Handle = std::coroutine_handle<promise_type>;

  explicit Task(Handle handle) : handle_(handle) {}
  Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  ~Task() {
    if (handle_) handle_.destroy();
  }

  // co_await task: start it (unless start() did), wait for its end unless it
  // has ended, and evaluate to its result.
  struct Awaiter {
    Handle handle;

    bool await_ready() const noexcept { return handle.done(); }
    bool await_suspend(std::coroutine_handle<> awaiting) const {
      start(handle);
      if (handle.done()) return false;  // it ended at once: go on without suspending
      if (handle.promise().continuation) throw std::logic_error("two coroutines await one Task");
      handle.promise().continuation = awaiting;
      return true;
    }
    T await_resume() const { return handle.promise().take_result(); }
  };
  Awaiter operator co_await() const { return Awaiter{checked()}; }

  // Runs the task now up to its first suspension, no further (gather() and
  // run() start tasks so, and collect their results later).
  void start() { start(checked()); }
  bool done() const { return handle_ && handle_.done(); }
  T result() const {  // of a task that is done(), for code that cannot co_await
    if (!done()) throw std::logic_error("result() of a Task that has not finished");
    return handle_.promise().take_result();
  }

 private:
  static void start(Handle handle) {
    if (!std::exchange(handle.promise().started, true)) handle.resume();
  }
  Handle checked() const {
    if (!handle_) throw std::logic_error("a moved-from Task cannot run");
    return handle_;
  }

  Handle handle_;
};

inline Task<void> detail::Promise<void>::get_return_object() {
  return Task<void>(std::coroutine_handle<Promise>::from_promise(*this));
}

}  // namespace lesson6
