// Lesson 6's runtime, part 1: Task<T>, a coroutine that another one can
// co_await, and gather(). (Next, event_loop.hpp: the loop that resumes tasks.)
//
//   Task<int> answer() { co_return 42; }
//   Task<void> main_task() { const int value = co_await answer(); ... }
//
// Lazy, like a Python coroutine object: answer() only makes the frame, and
// `co_await` starts it and gives its co_return value (or rethrows). Destroying
// a Task destroys its frame and the tasks it awaits: that is how we cancel.
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

#include "observer/observer.hpp"

namespace lesson6 {

struct PromiseBase {
  // At its end a task jumps straight to its awaiter: a "symmetric transfer"
  // takes no stack, as a resume from here would.
  struct FinalAwaiter {
    std::coroutine_handle<> continuation;  // none yet: the task stays suspended
    bool await_ready() const noexcept { return false; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<>) const noexcept {
      return continuation ? continuation : std::noop_coroutine();
    }
    void await_resume() const noexcept {}
  };
  std::suspend_always initial_suspend() const noexcept { return {}; }  // lazy
  FinalAwaiter final_suspend() const noexcept { return {continuation}; }
  void unhandled_exception() noexcept { exception = std::current_exception(); }

  std::coroutine_handle<> continuation;  // the coroutine awaiting this task
  std::exception_ptr exception;
  bool started = false;
};

// How a task ended: its value (none for a Task<void>), or an exception.
template <typename T>
struct Outcome : PromiseBase {
  void return_value(T value) { result.emplace(std::move(value)); }
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

template <typename T = void>
class [[nodiscard]] Task {
 public:
  struct promise_type : Outcome<T> {
    Task get_return_object() { return Task(*this); }
  };

  explicit Task(promise_type& promise) : handle_(Handle::from_promise(promise)) {}
  Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  ~Task() {
    if (handle_) handle_.destroy();
  }

  // co_await task: a plain call starts it (unless start() did). If it ended at
  // once, its awaiter just goes on: a million such co_awaits need one stack.
  bool await_ready() const { return done(); }
  bool await_suspend(std::coroutine_handle<> awaiting) {
    start();
    if (handle_.done()) return false;
    if (handle_.promise().continuation) throw std::logic_error("two coroutines await one Task");
    handle_.promise().continuation = awaiting;
    return true;
  }
  T await_resume() const { return handle_.promise().take_result(); }

  // Runs the task up to its first suspension now (gather() and run() do).
  void start() {
    if (!handle_) throw std::logic_error("a moved-from Task cannot run");
    if (!std::exchange(handle_.promise().started, true)) handle_.resume();
  }
  bool done() const { return handle_ && handle_.done(); }

 private:
  using Handle = std::coroutine_handle<promise_type>;

  Handle handle_;
};

// What --trace and --timeline (observer/) draw the running task on. gather()
// gives each of its tasks a track of its own, "task 1", "task 2"...; a task
// awaited with co_await runs on its awaiter's; a task that waits on a socket
// moves to that socket's track, as it serves that connection. The event loop
// sets it as it resumes a task, and its own track back once the task waits.
inline thread_local observer::Track running_track = observer::Timeline::loop;
inline bool is_the_loops(observer::Track track) {  // the observer's convention: no number
  return track.number < 0;
}
inline thread_local long tasks_numbered = 0;  // the last "task N" that gather() gave

// gather()'s frame around each of its tasks: the task's own track, from its
// start until it ends (or is destroyed, which ends it too).
template <typename T>
Task<T> on_a_track_of_its_own(Task<T> task) {
  struct OwnTrack {
    observer::Track track{"task", ++tasks_numbered};
    OwnTrack() { observer::open(track, "gather() starts it"); }
    ~OwnTrack() { observer::close(track, "ends"); }
  } own;
  observer::run(own.track, "runs until it first waits");
  running_track = own.track;
  co_return co_await task;
}

// Python: results = await asyncio.gather(*tasks): starts every task, then
// awaits each in turn, so all progress together; results come in order. If
// some throw, it waits for all (Python does not), then rethrows the first.
template <typename T>
using Results = std::conditional_t<std::is_void_v<T>, void, std::vector<T>>;

template <typename T>
Task<Results<T>> gather(std::vector<Task<T>> tasks) {
  const observer::Track mine = running_track;  // each task runs on its own, then hands us back ours
  std::vector<Task<T>> started;
  for (Task<T>& task : tasks) {
    started.push_back(on_a_track_of_its_own(std::move(task)));
    started.back().start();
    running_track = mine;
  }
  std::conditional_t<std::is_void_v<T>, std::nullptr_t, Results<T>> results{};
  std::exception_ptr first_error;
  for (Task<T>& task : started) {
    try {
      if constexpr (std::is_void_v<T>)
        co_await task;
      else
        results.push_back(co_await task);
    } catch (...) {
      if (!first_error) first_error = std::current_exception();
    }
    running_track = mine;
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
