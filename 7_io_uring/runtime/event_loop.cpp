// Lesson 7's runtime, part 2: the event loop at work. (Next, io.hpp: the
// operations tasks await.)
#include "7_io_uring/runtime/event_loop.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <exception>
#include <iostream>
#include <iterator>
#include <string>
#include <system_error>
#include <utility>

#include "common/stop_signal.hpp"
#include "observer/observer.hpp"

namespace lesson7 {

namespace {

// Room for this many requests a turn; more only cost another submission.
constexpr unsigned ring_entries = 1024;

// The one line a refusal deserves: what the kernel said, why, how to check.
std::runtime_error refused(int error, const std::string& what) {
  std::string why;
  if (error == EPERM) {
    why =
        "io_uring is refused here: a seccomp profile (Docker's default) or the sysctl "
        "kernel.io_uring_disabled forbids it (check: sysctl kernel.io_uring_disabled)";
  } else if (error == ENOSYS || error == EINVAL) {
    why = "this kernel has no io_uring, or an old one (check: uname -r; 5.6 or newer needed)";
  } else if (error == ENOMEM) {
    why = "too little locked memory for the ring (check: ulimit -l)";
  } else if (error == EMFILE || error == ENFILE) {
    why = "no descriptor is left for the ring (check: ulimit -n; sysctl fs.file-max)";
  } else {
    why = "io_uring is not available";
  }
  return std::runtime_error(what + ": " + std::strerror(error) + ": " + why);
}

// Old kernels have io_uring but not every operation this runtime uses.
void check_operations(io_uring& ring) {
  io_uring_probe* const probe = io_uring_get_probe_ring(&ring);
  if (probe == nullptr) throw refused(ENOSYS, "io_uring_register(IORING_REGISTER_PROBE)");
  bool all = true;
  for (const int operation : {IORING_OP_ACCEPT, IORING_OP_RECV, IORING_OP_SEND, IORING_OP_TIMEOUT,
                              IORING_OP_ASYNC_CANCEL, IORING_OP_POLL_ADD})
    all = all && io_uring_opcode_supported(probe, operation) != 0;
  io_uring_free_probe(probe);
  if (!all) throw refused(EINVAL, "io_uring lacks an operation this runtime uses");
}

// The read end of the self-pipe that turns readable at SIGINT, SIGTERM or SIGHUP.
int stop_pipe() {
  common::install_stop_handlers();
  return common::stop_fd();
}

}  // namespace

void Operation::await_suspend(std::coroutine_handle<> coroutine) {
  awaiting_ = coroutine;
  EventLoop::current().submit(*this);
}

bool Operation::submitted_again(int result) {
  if (result != -EAGAIN && result != -EINTR) return false;
  EventLoop::current().submit(*this);
  return true;
}

// A task destroyed while its request is in flight (a stop signal, a task
// that gave up on it) may not free the frame the kernel may still write into.
Operation::~Operation() {
  if (EventLoop* const loop = EventLoop::running(); loop != nullptr) loop->cancel(*this);
}

EventLoop::StopSignal::StopSignal(bool& stopping)
    : Operation("poll", stop_pipe()), stopping_(stopping) {}

void EventLoop::StopSignal::prepare(io_uring_sqe& request) {
  io_uring_prep_poll_add(&request, fd(), POLLIN);
}

bool EventLoop::StopSignal::completed(int) {
  stopping_ = true;
  return false;  // no task to resume
}

EventLoop::EventLoop() {
  if (this_thread_loop_ != nullptr) throw std::logic_error("an event loop is already running");
  if (const int result = io_uring_queue_init(ring_entries, &ring_, 0); result < 0) {
    throw refused(-result, "io_uring_setup");
  }
  try {
    check_operations(ring_);
  } catch (...) {
    io_uring_queue_exit(&ring_);
    throw;
  }
  this_thread_loop_ = this;
  submit(stop_signal_);
}

EventLoop::~EventLoop() {
  destroy_remaining_tasks();
  cancel(stop_signal_);  // unless it came
  this_thread_loop_ = nullptr;
  io_uring_queue_exit(&ring_);
}

// A free entry of the submission ring. When the ring is full, what it holds
// goes to the kernel now: one more system call, never a lost request.
io_uring_sqe& EventLoop::next_request() {
  io_uring_sqe* request = io_uring_get_sqe(&ring_);
  if (request == nullptr) {
    submit_and_wait(0);
    request = io_uring_get_sqe(&ring_);
  }
  if (request == nullptr) throw std::logic_error("the submission ring stays full");
  return *request;
}

void EventLoop::submit(Operation& operation) {
  io_uring_sqe& request = next_request();
  operation.prepare(request);
  io_uring_sqe_set_data(&request, &operation);  // what its completion brings back
  operation.state_ = Operation::State::in_flight;
  // As in lesson 6: a task that waits on a socket moves to the socket's
  // track, as it serves that connection; one that sleeps stays on its own.
  operation.track_ = operation.fd_ >= 0 ? observer::Track(operation.fd_) : running_track;
  if (is_the_loops(operation.track_)) {
    observer::note(operation.call_, " submitted");  // a wait of the loop's would say it blocks
  } else {
    observer::wait(operation.track_, operation.call_, " submitted");
  }
}

// An operation in flight is cancelled, and the frame that holds it waits for
// its completion: -ECANCELED, or its result if it finished first. (The cancel
// request has a completion of its own, which names no operation.) One that
// completed but has not resumed its task yet will not resume it.
void EventLoop::cancel(Operation& operation) noexcept {
  if (operation.state_ == Operation::State::completed) {
    std::replace(completed_.begin(), completed_.end(), &operation,
                 static_cast<Operation*>(nullptr));
    operation.state_ = Operation::State::idle;
  }
  if (operation.state_ != Operation::State::in_flight) return;
  operation.state_ = Operation::State::cancelling;
  io_uring_sqe& request = next_request();  // noexcept: a ring that fails here ends the program
  io_uring_prep_cancel(&request, &operation, 0);
  io_uring_sqe_set_data(&request, nullptr);
  observer::note(operation.track_, operation.call_, " cancelled; waiting for its completion");
  while (operation.state_ == Operation::State::cancelling) {
    submit_and_wait(1);
    take_completions();
  }
}

// io_uring_enter(): submits every request queued since the last call, then
// waits until `completions` have come. A signal interrupts the wait only.
void EventLoop::submit_and_wait(unsigned completions) {
  int result = 0;
  while ((result = io_uring_submit_and_wait(&ring_, completions)) == -EINTR) {
  }
  if (result < 0) throw std::system_error(-result, std::generic_category(), "io_uring_enter");
}

// Each completion is marked on its operation; those whose task should run
// are queued in completed_. Nothing resumes here: cancel() calls this too,
// from the destructor of a frame.
void EventLoop::take_completions() {
  unsigned head = 0;
  unsigned count = 0;
  io_uring_cqe* completion = nullptr;
  io_uring_for_each_cqe(&ring_, head, completion) {
    ++count;
    auto* const operation = static_cast<Operation*>(io_uring_cqe_get_data(completion));
    if (operation == nullptr) continue;  // a cancel request's own
    const bool cancelled = operation->state_ == Operation::State::cancelling;
    operation->state_ = Operation::State::idle;
    if (cancelled) operation->cancelled_result_ = completion->res;
    if (cancelled || !operation->completed(completion->res)) continue;
    operation->state_ = Operation::State::completed;
    completed_.push_back(operation);
  }
  io_uring_cq_advance(&ring_, count);
}

// In the order the kernel completed them. A resumed task may destroy another
// whose completion waits here: cancel() then empties its place (and what
// the cancel's wait brought back joins the end, to resume this turn too).
void EventLoop::resume_completed() {
  for (std::size_t i = 0; i < completed_.size(); ++i) {
    Operation* const operation = std::exchange(completed_[i], nullptr);
    if (operation == nullptr) continue;
    operation->state_ = Operation::State::idle;
    if (is_the_loops(operation->track_)) {
      observer::note(operation->call_, " completed: resuming its task");
    } else {
      observer::run(operation->track_, operation->call_, " completed: resuming its task");
    }
    resume(operation->awaiting_, operation->track_);
    // A spawned task that ended goes now, its socket with it, before the
    // next completion: an accept among them may need that descriptor.
    if (!finished_.empty()) free_finished_tasks();
  }
  completed_.clear();
}

void EventLoop::free_finished_tasks() {
  for (const std::uint64_t number : finished_)
    spawned_.erase(number);  // the frame, suspended at its end, goes
  finished_.clear();
}

bool EventLoop::run_once() {
  observer::wait("io_uring_submit_and_wait(): submitting ", io_uring_sq_ready(&ring_),
                 " request(s), waiting for a completion");
  // For a completion; for none if the stop came already, in a cancel()'s wait.
  submit_and_wait(stopping_ ? 0 : 1);
  observer::note("the wait brought back ", io_uring_cq_ready(&ring_), " completion(s)");
  take_completions();
  if (stopping_) {
    observer::note("stop signal: destroying every task");
    return false;
  }
  resume_completed();
  return true;
}

Task<void> EventLoop::supervise(Task<void> task, std::uint64_t number) {
  try {
    co_await task;
  } catch (const std::exception& error) {
    std::cerr << "lesson7: a spawned task failed: " << error.what() << '\n';
  } catch (...) {
    std::cerr << "lesson7: a spawned task failed with an unknown exception\n";
  }
  finished_.push_back(number);
}

// It starts on the loop's track, as lesson 6's does (its socket, if any,
// gives it one), and the task that spawned it then gets its own back.
void EventLoop::spawn(Task<void> task) {
  const std::uint64_t number = ++spawned_count_;
  observer::note("spawned a task; it runs up to its first co_await");
  Task<void>& supervisor =
      spawned_.emplace(number, supervise(std::move(task), number)).first->second;
  const observer::Track spawner = std::exchange(running_track, observer::Timeline::loop);
  supervisor.start();
  running_track = spawner;
}

void EventLoop::destroy_remaining_tasks() {
  while (!spawned_.empty())
    spawned_.erase(std::prev(spawned_.end()));  // newest first
  finished_.clear();
  completed_.clear();
}

}  // namespace lesson7
