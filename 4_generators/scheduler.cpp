#include "4_generators/scheduler.hpp"

#include "observer/observer.hpp"

namespace lesson4 {

Scheduler::~Scheduler() {
  // Each task's socket closes with it: the trace says so first, and the
  // Selector wants it unregistered first.
  for (const auto& [id, entry] : tasks_) {
    observer::note(entry->fd, "task ", id, " destroyed");
    if (entry->fd >= 0) selector_.unregister(entry->fd);
  }
}

void Scheduler::run_until_readable(int stop_fd) {
  selector_.register_fd(stop_fd, lesson3::event_read, [this](lesson3::EventMask) {
    observer::note("stop requested");
    stopping_ = true;
  });
  while (!stopping_) {
    // Python: task = TASKS.pop(0); next(task), until no task can run. A task
    // that joins the queue meanwhile runs in this pass too: an index stays
    // valid as the vector grows, where an iterator would not.
    for (std::size_t i = 0; i < runnable_.size(); ++i)
      run(*runnable_[i]);
    runnable_.clear();
    // Every task now waits. Python: select(TO_READ, TO_WRITE, [])
    for (const lesson3::ReadyEvent& event : selector_.select(std::nullopt)) {
      selector_.dispatch(event);
    }
  }
  selector_.unregister(stop_fd);
}

void Scheduler::run(Entry& entry) {
  observer::run(entry.fd, "running task ", entry.id);
  if (const std::optional<Wait> wait = entry.next()) {
    suspend(entry, *wait);
  } else {
    finish(entry);
  }
}

// Python: if to_do == "read": TO_READ[sock] = task (TO_WRITE for "write").
//
// The course's select() reports a socket writable at once, as a socket
// nearly always is, so we skip that trip (it would double the system calls
// of every echo): a task's first wait to write goes straight back to the
// queue, and its send() finds out. Only a task that comes back still waiting
// to write, its socket full, waits for the Selector.
void Scheduler::suspend(Entry& entry, Wait wait) {
  const bool to_write = wait.events == lesson3::event_write;
  if (to_write && !entry.writing) {
    observer::wait(wait.fd, "task ", entry.id,
                   " waits to write: queued again at once, as a socket is nearly always writable");
    entry.writing = true;
    runnable_.push_back(&entry);
    return;
  }
  entry.writing = to_write;
  // Most of the time a task waits for what it waited for last time: the
  // kernel already watches that, so we tell it nothing.
  if (wait.fd != entry.fd) {
    if (entry.fd >= 0) selector_.unregister(entry.fd);
    selector_.register_fd(wait.fd, wait.events,
                          [this, &entry](lesson3::EventMask) { wake(entry); });
  } else if (wait.events != entry.events) {
    selector_.modify(wait.fd, wait.events);
  }
  entry.fd = wait.fd;
  entry.events = wait.events;
  observer::wait(wait.fd, "task ", entry.id, " waits to ", lesson3::describe(wait.events));
}

// Python: TASKS.append(TO_READ.pop(sock)). The socket stays registered, as the
// task will most likely wait for it again; it cannot be reported twice, since
// every runnable task runs before the next Selector::select().
void Scheduler::wake(Entry& entry) {
  observer::wait(entry.fd, "task ", entry.id, " can run: queued again");
  runnable_.push_back(&entry);
}

// Python: except StopIteration. Destroying the task closes its socket, once
// the selector no longer watches it.
void Scheduler::finish(Entry& entry) {
  observer::note(entry.fd, "task ", entry.id, " finished");
  if (entry.fd >= 0) selector_.unregister(entry.fd);
  tasks_.erase(entry.id);
}

}  // namespace lesson4
