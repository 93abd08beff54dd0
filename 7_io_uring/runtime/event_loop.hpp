// Lesson 7's runtime, part 1: the event loop on io_uring. (Next,
// event_loop.cpp: the loop at work.) Task<T> and gather() are lesson 6's; the
// loop asks the kernel another question. Lesson 6's asked "which socket is
// ready?", then made the call itself. This one hands the kernel the call
// (receive into this buffer, send these bytes, accept) and asks "which are
// done?". One turn, run_once(): submit every operation the tasks asked for
// and wait for completions, in one system call; then resume the task of each.
#pragma once

#include <liburing.h>

#include <cerrno>
#include <coroutine>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <utility>
#include <vector>

#include "6_async_await/runtime/task.hpp"
#include "observer/observer.hpp"

namespace lesson7 {

using lesson6::gather;
using lesson6::is_the_loops;
using lesson6::running_track;
using lesson6::Task;

struct Stopped {};  // what run_until_complete() throws at SIGINT, SIGTERM or SIGHUP

// One request to the kernel, which a coroutine awaits: io.hpp has the kinds
// (recv, send, accept, a timeout). It lives in the awaiting frame, and the
// kernel hands its address back with the completion. So neither it nor the
// buffer it names may go while the request is in flight: its destructor
// cancels the request, then waits for the completion.
class Operation {
 public:
  Operation(const Operation&) = delete;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> coroutine);

  // For the loop: the request (one of liburing's io_uring_prep_...() calls),
  // and what its completion means: true, resume the task; false, no task to
  // resume now (most often it was submitted again: the rest of a short send).
  virtual void prepare(io_uring_sqe& request) = 0;
  virtual bool completed(int result) = 0;

 protected:
  // `call` names it for --trace; `fd` is its socket, or -1.
  Operation(const char* call, int fd) : call_(call), fd_(fd) {}
  ~Operation();
  int fd() const { return fd_; }
  // -EAGAIN and -EINTR end no request: under load the kernel may give up on
  // a socket that woke it for nothing, and a signal may cut a wait short.
  // "Wait" and "retry", as in lesson 6: true if it was submitted again.
  bool submitted_again(int result);
  // What the completion of a cancelled request said: -ECANCELED, or its
  // result if it finished first (for an accept, a client to close).
  int cancelled_result() const { return cancelled_result_; }

 private:
  friend class EventLoop;
  enum class State { idle, in_flight, cancelling, completed };

  const char* call_;
  int fd_;
  // The track --trace and --timeline show it on, and its task resumes on
  // (task.hpp's running_track): its socket's, or the sleeping task's.
  observer::Track track_ = observer::Timeline::loop;
  State state_ = State::idle;
  std::coroutine_handle<> awaiting_;
  int cancelled_result_ = -ECANCELED;
};

class EventLoop {
 public:
  // Asks the kernel for a ring. Where io_uring is refused (a container's
  // seccomp profile, kernel.io_uring_disabled, an old kernel), it throws a
  // std::runtime_error whose one line says why and how to check.
  EventLoop();
  // Destroys the spawned tasks left, which cancel what they have in flight,
  // then gives the ring back. Other tasks go first: they cancel on this ring.
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;
  static EventLoop* running() noexcept { return this_thread_loop_; }  // null without one
  static EventLoop& current() {  // throws std::logic_error without one
    if (this_thread_loop_ == nullptr) throw std::logic_error("no event loop: make one first");
    return *this_thread_loop_;
  }

  // For operations. submit() only queues: the turn's wait sends it along
  // with the rest. cancel() takes one back: once in flight, it returns when
  // the completion has come.
  void submit(Operation& operation);
  void cancel(Operation& operation) noexcept;

  // Python: asyncio.create_task(task), minus a handle to await: the task runs
  // at once up to its first co_await; an exception that ends it goes to
  // standard error.
  void spawn(Task<void> task);

  // Python: loop.run_until_complete(main()): runs `main` to its end, and
  // returns its value or rethrows its exception. At a stop signal (SIGINT,
  // SIGTERM, SIGHUP) it throws Stopped. Either way every task left is
  // destroyed, spawned ones first.
  template <typename T>
  T run_until_complete(Task<T> main);

  bool run_once();                 // one turn; false once a stop signal came
  void destroy_remaining_tasks();  // the spawned ones, newest first

 private:
  // The stop signal's self-pipe turns readable: the one request no task awaits.
  class StopSignal final : public Operation {
   public:
    explicit StopSignal(bool& stopping);
    void prepare(io_uring_sqe& request) override;
    bool completed(int result) override;

   private:
    bool& stopping_;
  };

  io_uring_sqe& next_request();
  // Resumes a task, on its track, until it waits again.
  void resume(std::coroutine_handle<> task, observer::Track track) {
    running_track = track;
    task.resume();
    running_track = observer::Timeline::loop;
  }
  void submit_and_wait(unsigned completions);
  void take_completions();
  void resume_completed();
  void free_finished_tasks();
  Task<void> supervise(Task<void> task, std::uint64_t number);

  static inline thread_local EventLoop* this_thread_loop_ = nullptr;
  io_uring ring_{};
  bool stopping_ = false;
  StopSignal stop_signal_{stopping_};
  std::vector<Operation*> completed_;            // their tasks resume this turn, in order
  std::map<std::uint64_t, Task<void>> spawned_;  // by number, until each ends
  std::uint64_t spawned_count_ = 0;
  std::vector<std::uint64_t> finished_;  // spawned tasks that ended, until they are freed
};

template <typename T>
T EventLoop::run_until_complete(Task<T> main) {
  try {
    main.start();
    while (!main.done() && run_once()) {
    }
  } catch (...) {
    destroy_remaining_tasks();  // first, as they may use what `main` owns
    throw;
  }
  destroy_remaining_tasks();
  if (!main.done()) throw Stopped();
  return main.await_resume();  // what co_await would give: its value, or its exception
}

// Python: asyncio.create_task(task), on the thread's loop.
inline void spawn(Task<void> task) {
  EventLoop::current().spawn(std::move(task));
}

}  // namespace lesson7
