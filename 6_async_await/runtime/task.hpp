// Lesson 6, part 1 of the runtime: Task<T>, a coroutine that can be awaited.
// (Read next: event_loop.hpp, then gather.hpp, then io.hpp.)
//
//   Task<int> answer() { co_return 42; }
//   Task<void> main_task() { const int value = co_await answer(); ... }
//
// A Task is lazy: calling answer() only creates its frame. `co_await task`
// starts it, suspends the awaiting coroutine until the task ends, and then
// evaluates to its co_return value or rethrows the exception that ended it.
// Python's `await coroutine()` behaves the same way.
//
// Starting a task is a plain call (resume()), which returns once the task
// first suspends or ends. If it has ended, the awaiting coroutine simply goes
// on (await_suspend returns false): so a loop of a million co_awaits on tasks
// that finish at once needs no more stack than one. A task that did suspend
// is resumed later by the event loop; when it ends, it jumps straight to the
// coroutine awaiting it: final_suspend's await_suspend returns that coroutine
// to run next instead of calling resume() on it (a "symmetric transfer").
// Why not start the task by symmetric transfer too, as cppcoro does? That
// relies on the compiler turning the jump into a tail call, and g++ 12 does
// not without optimisation or under AddressSanitizer: the million awaits
// would then overflow the stack.
//
// start() is the other way in: it runs the task now, up to its first
// suspension, without waiting for its end (gather() and run() use it); a
// later co_await then collects the result.
//
// A Task owns its frame: destroying the Task destroys the frame, the locals
// alive in it, and the tasks it is awaiting. That is how the event loop
// cancels everything at a stop signal.
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

// What every Task's promise holds, whatever its result type.
struct PromiseBase {
  // At the end, jump to whoever awaits the task; nobody yet means stay
  // suspended at the end, done() becomes true, and the result waits there.
  struct FinalAwaiter {
    bool await_ready() const noexcept { return false; }
    template <typename Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> finished) const noexcept {
      const std::coroutine_handle<> continuation = finished.promise().continuation;
      return continuation ? continuation : std::noop_coroutine();
    }
    void await_resume() const noexcept {}
  };

  std::suspend_always initial_suspend() const noexcept { return {}; }  // lazy: wait for co_await
  FinalAwaiter final_suspend() const noexcept { return {}; }

  // Runs the coroutine until it first suspends or ends; only the first time.
  void start(std::coroutine_handle<> self) {
    if (!std::exchange(started, true)) self.resume();
  }

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

  // The value moves out, so it can be taken once.
  T take_result() {
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
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      if (handle_) handle_.destroy();
      handle_ = std::exchange(other.handle_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() {
    if (handle_) handle_.destroy();
  }

  // co_await task: start it (unless start() already did), then wait for its
  // end unless it has ended already, and evaluate to its result.
  struct Awaiter {
    Handle handle;

    bool await_ready() const noexcept { return handle.done(); }
    bool await_suspend(std::coroutine_handle<> awaiting) const {
      handle.promise().start(handle);
      if (handle.done()) return false;  // it ended at once: go on, no need to suspend
      // Only one coroutine can be resumed when it ends.
      if (handle.promise().continuation) throw std::logic_error("two coroutines await one Task");
      handle.promise().continuation = awaiting;
      return true;
    }
    T await_resume() const { return handle.promise().take_result(); }
  };
  Awaiter operator co_await() const {
    if (!handle_) throw std::logic_error("co_await on a moved-from Task");
    return Awaiter{handle_};
  }

  // Runs the task now until it first suspends (or ends); does nothing if it
  // has started already.
  void start() {
    if (!handle_) throw std::logic_error("start() on a moved-from Task");
    handle_.promise().start(handle_);
  }
  bool done() const { return handle_ && handle_.done(); }
  // The value (or exception) of a task that is done(), for code that is not a
  // coroutine and so cannot co_await it.
  T result() const {
    if (!done()) throw std::logic_error("result() of a Task that has not finished");
    return handle_.promise().take_result();
  }

 private:
  Handle handle_;
};

inline Task<void> detail::Promise<void>::get_return_object() {
  return Task<void>(std::coroutine_handle<Promise>::from_promise(*this));
}

}  // namespace lesson6
