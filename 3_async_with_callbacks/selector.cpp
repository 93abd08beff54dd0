#include "3_async_with_callbacks/selector.hpp"

#include <poll.h>
#include <sys/epoll.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include "common/net.hpp"
#include "observer/observer.hpp"

namespace lesson3 {

namespace {

std::system_error os_error(const char* what) {
  return {errno, std::generic_category(), what};
}

// Both system calls take milliseconds as an int, and -1 for "no timeout".
int to_milliseconds(std::optional<std::chrono::milliseconds> timeout) {
  if (!timeout) return -1;
  return static_cast<int>(std::clamp<std::chrono::milliseconds::rep>(timeout->count(), 0, INT_MAX));
}

// A hang-up or an error wakes up whatever the descriptor waits for, so that
// its callback runs and its recv() or send() reports what happened.
EventMask ready_events(bool readable, bool writable, bool failed, EventMask interest) {
  EventMask ready = 0;
  if (readable || failed) ready |= event_read;
  if (writable || failed) ready |= event_write;
  return ready & interest;
}

// epoll: the kernel keeps the interest list, so each change is one
// epoll_ctl() and each wait costs only what is ready, however many we watch.
class EpollSelector final : public Selector {
 public:
  EpollSelector() : epoll_(epoll_create1(EPOLL_CLOEXEC)) {
    if (!epoll_) throw os_error("epoll_create1");
    ready_.reserve(kernel_events_.size());
  }

  void register_fd(int fd, EventMask events, Callback callback) override {
    add_registration(fd, events, std::move(callback));
    if (events == 0) return;
    if (!control(EPOLL_CTL_ADD, fd, events)) {
      const std::system_error error = os_error("epoll_ctl(ADD)");
      remove_registration(fd);
      throw error;
    }
  }

  void modify(int fd, EventMask events) override {
    const EventMask before = interest(fd);
    if (before == events) {
      change_interest(fd, events);  // still checks that fd is registered
      return;
    }
    // Waiting for nothing means leaving the kernel's list: it would report a
    // hang-up even to a descriptor that asked for no events.
    const int operation = before == 0 ? EPOLL_CTL_ADD : events == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
    change_interest(fd, events);
    if (!control(operation, fd, events)) {
      const std::system_error error = os_error("epoll_ctl");
      change_interest(fd, before);  // the kernel did not change: neither do we
      throw error;
    }
  }

  void unregister(int fd) override {
    if (remove_registration(fd) == 0) return;
    // Closing a descriptor already removes it from epoll: EBADF or ENOENT
    // just means someone closed it first (libcurl does).
    if (!control(EPOLL_CTL_DEL, fd, 0) && errno != EBADF && errno != ENOENT) {
      throw os_error("epoll_ctl(DEL)");
    }
  }

  std::span<const ReadyEvent> wait(std::optional<std::chrono::milliseconds> timeout) override {
    ready_.clear();
    const int count = epoll_wait(epoll_.get(), kernel_events_.data(),
                                 static_cast<int>(kernel_events_.size()), to_milliseconds(timeout));
    if (count < 0 && errno == EINTR) return {};
    if (count < 0) throw os_error("epoll_wait");
    for (const epoll_event& event : std::span(kernel_events_).first(count)) {
      const int fd = event.data.fd;
      ready_.push_back({fd, ready_events(event.events & EPOLLIN, event.events & EPOLLOUT,
                                         event.events & (EPOLLERR | EPOLLHUP), interest(fd))});
    }
    return ready_;
  }

 private:
  bool control(int operation, int fd, EventMask events) {
    epoll_event event{};
    event.events = (events & event_read ? EPOLLIN : 0u) | (events & event_write ? EPOLLOUT : 0u);
    event.data.fd = fd;
    return epoll_ctl(epoll_.get(), operation, fd, &event) == 0;
  }

  common::FileDescriptor epoll_;
  // Level-triggered: whatever does not fit this batch is reported next time.
  std::array<epoll_event, 1024> kernel_events_{};
  std::vector<ReadyEvent> ready_;
};

// poll: the kernel remembers nothing between calls, so every wait hands it
// the whole list and it scans all of it. That cost, per wait and per
// descriptor, is why epoll exists.
class PollSelector final : public Selector {
 public:
  void register_fd(int fd, EventMask events, Callback callback) override {
    add_registration(fd, events, std::move(callback));
  }

  void modify(int fd, EventMask events) override { change_interest(fd, events); }

  void unregister(int fd) override { remove_registration(fd); }

  std::span<const ReadyEvent> wait(std::optional<std::chrono::milliseconds> timeout) override {
    watched_.clear();
    ready_.clear();
    for (int fd = 0; const Registration& registration : registrations()) {
      const EventMask events = registration.events;
      if (events != 0) {
        watched_.push_back({fd,
                            static_cast<short>((events & event_read ? POLLIN : 0) |
                                               (events & event_write ? POLLOUT : 0)),
                            0});
      }
      ++fd;
    }
    const int count = poll(watched_.data(), watched_.size(), to_milliseconds(timeout));
    if (count < 0 && errno == EINTR) return {};
    if (count < 0) throw os_error("poll");
    for (const pollfd& entry : watched_) {
      if (entry.revents == 0) continue;
      ready_.push_back({entry.fd, ready_events(entry.revents & POLLIN, entry.revents & POLLOUT,
                                               entry.revents & (POLLERR | POLLHUP | POLLNVAL),
                                               interest(entry.fd))});
    }
    return ready_;
  }

 private:
  // Both keep their capacity from one wait to the next: no allocation per wait.
  std::vector<pollfd> watched_;
  std::vector<ReadyEvent> ready_;
};

}  // namespace

std::span<const ReadyEvent> Selector::select(std::optional<std::chrono::milliseconds> timeout) {
  if (timeout) {
    observer::wait("Selector::select(): waiting on ", watched_, " descriptors, at most ",
                   timeout->count(), " ms");
  } else {
    observer::wait("Selector::select(): waiting on ", watched_, " descriptors");
  }
  return wait(timeout);
}

void Selector::dispatch(const ReadyEvent& event) {
  const Registration* registration = find(event.fd);
  if (registration == nullptr) return;
  // An earlier callback of this batch may have changed what it waits for.
  const EventMask ready = event.events & registration->events;
  if (ready == 0) return;
  observer::run(event.fd, "ready to ", describe(ready), ", running its callback");
  // Our own reference keeps the callback alive while it runs, even if it
  // unregisters itself or registers others (which may move the table).
  const std::shared_ptr<const Callback> callback = registration->callback;
  (*callback)(ready);
}

void Selector::add_registration(int fd, EventMask events, Callback callback) {
  if (fd < 0) throw std::invalid_argument("cannot register a negative descriptor");
  if (!callback) throw std::invalid_argument("cannot register an empty callback");
  if (find(fd) != nullptr) {
    throw std::invalid_argument("descriptor " + std::to_string(fd) + " is already registered");
  }
  if (static_cast<std::size_t>(fd) >= registrations_.size()) registrations_.resize(fd + 1);
  registrations_[fd] = {events, std::make_shared<const Callback>(std::move(callback))};
  if (events != 0) ++watched_;
  observer::wait(fd, "registered: waits to ", describe(events));
}

EventMask Selector::change_interest(int fd, EventMask events) {
  if (find(fd) == nullptr) {
    throw std::invalid_argument("descriptor " + std::to_string(fd) + " is not registered");
  }
  const EventMask before = std::exchange(registrations_[fd].events, events);
  watched_ += (events != 0) - (before != 0);
  observer::wait(fd, "waits to ", describe(events));
  return before;
}

EventMask Selector::remove_registration(int fd) {
  if (find(fd) == nullptr) return 0;
  const EventMask before = std::exchange(registrations_[fd], {}).events;
  if (before != 0) --watched_;
  observer::close(fd, "unregistered");
  return before;
}

EventMask Selector::interest(int fd) const {
  const Registration* registration = find(fd);
  return registration == nullptr ? 0 : registration->events;
}

const Selector::Registration* Selector::find(int fd) const {
  if (fd < 0 || static_cast<std::size_t>(fd) >= registrations_.size()) return nullptr;
  const Registration& registration = registrations_[fd];
  return registration.callback ? &registration : nullptr;
}

std::unique_ptr<Selector> make_selector(Backend backend) {
  if (backend == Backend::poll) return std::make_unique<PollSelector>();
  return std::make_unique<EpollSelector>();
}

Backend parse_backend(std::string_view name) {
  if (name == "epoll") return Backend::epoll;
  if (name == "poll") return Backend::poll;
  throw std::invalid_argument("unknown backend '" + std::string(name) + "' (epoll or poll)");
}

}  // namespace lesson3
