// A Selector in the spirit of Python's `selectors` module: register a
// descriptor with the events it waits for and the callback to run, then ask
// which descriptors are ready and dispatch their callbacks. Two backends do the
// waiting: epoll (the default; the kernel keeps the interest list between
// calls) and poll (we hand the kernel the whole list on every call).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace lesson3 {

using EventMask = unsigned;
inline constexpr EventMask event_read = 1;   // Python: selectors.EVENT_READ
inline constexpr EventMask event_write = 2;  // Python: selectors.EVENT_WRITE

// "read", "write", "read+write" or "nothing", for --trace. Inline, so that a
// trace line that is not printed does not compute it either.
constexpr std::string_view describe(EventMask events) {
  switch (events) {
    case event_read:
      return "read";
    case event_write:
      return "write";
    case event_read | event_write:
      return "read+write";
    default:
      return "nothing";
  }
}

// What a registered descriptor runs when it is ready; `ready` holds only
// events it asked for.
using Callback = std::function<void(EventMask ready)>;

struct ReadyEvent {
  int fd;
  EventMask events;
};

enum class Backend { epoll, poll };

// One per event loop, not thread-safe. A hang-up or an error on a descriptor
// is reported as ready for whatever it waits for, so that its callback's
// recv() or send() finds out what happened.
//
// Like any readiness report, a ready event can be stale: if a callback closes a
// descriptor and a new one reuses its number in the same batch, the new one
// may get the old one's event. A non-blocking call then fails with EAGAIN,
// which means "wait", so callbacks must treat EAGAIN as normal.
class Selector {
 public:
  virtual ~Selector() = default;
  Selector(const Selector&) = delete;
  Selector& operator=(const Selector&) = delete;

  // Python: register(fileobj, events, data). Throws std::invalid_argument if
  // fd is already registered. `events` may be 0: registered, but not waiting.
  virtual void register_fd(int fd, EventMask events, Callback callback) = 0;
  // Python: modify(fileobj, events). Throws std::invalid_argument if fd is not
  // registered. Asks the kernel only when the events really change.
  virtual void modify(int fd, EventMask events) = 0;
  // Python: unregister(fileobj). Call it before close(fd). Does nothing for a
  // descriptor that is not registered, and tolerates one that someone else
  // has already closed.
  virtual void unregister(int fd) = 0;
  // Python: select(timeout). Waits until something is ready or the timeout
  // passes (nullopt: no timeout); EINTR counts as "nothing ready". The list
  // is valid until the next call.
  std::span<const ReadyEvent> select(std::optional<std::chrono::milliseconds> timeout);

  // Python: key.data(key.fileobj). Runs the callback registered for event.fd,
  // if it is still registered and still waits for one of those events. Safe
  // when the callback unregisters (or re-registers) its own or another
  // descriptor while it runs.
  void dispatch(const ReadyEvent& event);

 protected:
  Selector() = default;

  struct Registration {
    EventMask events = 0;
    // Shared so that dispatch() can keep a running callback alive.
    std::shared_ptr<const Callback> callback;  // null: not registered
  };

  // The bookkeeping both backends share. add_registration() and
  // change_interest() throw std::invalid_argument on misuse (Python: KeyError).
  void add_registration(int fd, EventMask events, Callback callback);
  EventMask change_interest(int fd, EventMask events);  // returns the previous events
  EventMask remove_registration(int fd);                // returns the previous events; 0 if none
  EventMask interest(int fd) const;                     // 0 when fd is not registered
  const Registration* find(int fd) const;               // null when fd is not registered
  // Indexed by descriptor: descriptors are small numbers, so a vector beats a map.
  std::span<const Registration> registrations() const { return registrations_; }

  // What select() does, the backend's way.
  virtual std::span<const ReadyEvent> wait(std::optional<std::chrono::milliseconds> timeout) = 0;

 private:
  std::vector<Registration> registrations_;
  std::size_t watched_ = 0;  // registrations that wait for something, for --trace
};

std::unique_ptr<Selector> make_selector(Backend backend);
// "epoll" or "poll"; throws std::invalid_argument otherwise.
Backend parse_backend(std::string_view name);

}  // namespace lesson3
