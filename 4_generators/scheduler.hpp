// Lesson 4's scheduler, Python's event_loop(): a queue of tasks that can run,
// and tasks that wait for a socket, which lesson 3's Selector watches. Lesson 5
// runs its coroutines on it unchanged: a task is anything with a next().
//
// The course's event_loop() keeps its waiting tasks in two dicts, socket to
// task: TO_READ and TO_WRITE, and hands them to select(). Ours are the
// Selector's registrations: a task that waits to read has its socket
// registered for event_read, one that waits to write for event_write, and the
// registration's callback puts the task back in the queue. We wait with the
// Selector rather than select() for what lesson 3 showed: epoll keeps the
// lists in the kernel between waits, and no descriptor is too high for it.
//
// For --trace and --timeline (observer/), the scheduler says what its tasks
// do, under their sockets' names: the Selector says what it asks the kernel,
// and common's socket calls what they read and write. The tasks say nothing.
#pragma once

#include <concepts>
#include <cstddef>
#include <memory>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "3_async_with_callbacks/selector.hpp"
#include "observer/observer.hpp"

namespace lesson4 {

// What a task waits for when it stops. Python: yield ("read", sock).
struct Wait {
  int fd;
  lesson3::EventMask events;  // event_read or event_write
};

inline Wait wait_to_read(int fd) {
  return {fd, lesson3::event_read};
}
inline Wait wait_to_write(int fd) {
  return {fd, lesson3::event_write};
}

// Python: next(task). next() runs the task until it must wait and says what
// for, or returns std::nullopt once the task has finished (StopIteration).
template <typename Task>
concept Resumable = std::move_constructible<Task> && requires(Task& task) {
  { task.next() } -> std::same_as<std::optional<Wait>>;
};

class Scheduler {
 public:
  explicit Scheduler(lesson3::Selector& selector) : selector_(selector) {}
  // Unregisters every task's socket, then destroys the tasks, which close them.
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Python: TASKS.append(task). The task runs for the first time before the
  // scheduler next waits for sockets.
  template <Resumable Task>
  void spawn(Task task) {
    const std::size_t id = next_id_++;
    auto entry = std::make_unique<TaskEntry<Task>>(id, std::move(task));
    observer::note("task ", id, " spawned");
    Entry& added = *tasks_.emplace(id, std::move(entry)).first->second;
    runnable_.push_back(&added);
  }

  // Python: event_loop(). Runs the tasks until stop_fd turns readable.
  void run_until_readable(int stop_fd);

 private:
  // One task and the socket registered for it. Tasks of different types share
  // one queue through this base, as callables of different types share
  // std::function.
  struct Entry {
    explicit Entry(std::size_t task_id) : id(task_id) {}
    virtual ~Entry() = default;
    virtual std::optional<Wait> next() = 0;

    const std::size_t id;  // names the task in --trace
    // Registered with the selector; -1 before the first wait, when what the
    // task does is traced as the loop's, as we do not know its socket yet.
    int fd = -1;
    lesson3::EventMask events = 0;
    bool writing = false;  // it has waited to write since it last waited to read
  };

  template <Resumable Task>
  struct TaskEntry final : Entry {
    TaskEntry(std::size_t task_id, Task resumable) : Entry(task_id), task(std::move(resumable)) {}
    std::optional<Wait> next() override { return task.next(); }

    Task task;
  };

  void run(Entry& entry);
  void suspend(Entry& entry, Wait wait);
  void wake(Entry& entry);
  void finish(Entry& entry);

  lesson3::Selector& selector_;
  std::vector<Entry*> runnable_;                                   // Python: TASKS
  std::unordered_map<std::size_t, std::unique_ptr<Entry>> tasks_;  // every live task, by id
  std::size_t next_id_ = 1;
  bool stopping_ = false;
};

}  // namespace lesson4
