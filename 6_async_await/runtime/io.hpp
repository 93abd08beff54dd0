// Lesson 6's runtime, part 4, the last: sockets that tasks co_await, as with
// asyncio's loop.sock_accept(), sock_recv() and sock_sendall(). Each awaiter
// lives in the awaiting frame (nothing to allocate) and the loop makes its call.
#pragma once

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <span>
#include <system_error>

#include "6_async_await/runtime/event_loop.hpp"  // and task.hpp, with what they include
#include "common/net.hpp"

namespace lesson6 {

// A non-blocking socket that tasks wait on. It owns its descriptor, and tells
// the loop before closing it: a new socket with that number starts afresh.
class Socket {
 public:
  explicit Socket(common::FileDescriptor fd) : fd_(std::move(fd)) {}
  Socket(Socket&&) noexcept = default;
  ~Socket() { close(); }

  int get() const { return fd_.get(); }
  void close() noexcept {  // only while no task waits on it: that one would never wake
    if (EventLoop* const loop = EventLoop::running(); loop != nullptr && fd_) loop->forget(get());
    fd_.reset();
  }

 private:
  common::FileDescriptor fd_;
};

// What every socket call shares. attempt() makes the call once: a write at
// once, waiting only if it met EAGAIN; a read is left to the loop.
class IoWaiter {
 public:
  // A read shorter than its buffer has emptied the socket (tokio's rule).
  enum class Attempt { would_block, done, done_and_emptied };
  virtual Attempt attempt() = 0;

  IoWaiter(const IoWaiter&) = delete;  // the loop holds our address while we wait
  bool await_ready() { return event_ == lesson3::event_write && attempt() != Attempt::would_block; }
  void await_suspend(std::coroutine_handle<> coroutine) {
    awaiting = coroutine;
    EventLoop::current().wait(fd_, event_, *this);
  }

  std::coroutine_handle<> awaiting;  // set while it waits

 protected:
  IoWaiter(const Socket& socket, lesson3::EventMask event) : fd_(socket.get()), event_(event) {}
  ~IoWaiter() {  // a task destroyed while it waits stops waiting
    EventLoop* const loop = EventLoop::running();
    if (awaiting && loop != nullptr) loop->stop_waiting(fd_, event_, *this);
  }
  Attempt failed() {  // after a failed call: wait for the socket (EAGAIN), or give up
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Attempt::would_block;
    error_ = errno;
    return Attempt::done;
  }
  void resumed(const char* call) {  // for await_resume(): throws if the call failed
    awaiting = {};
    if (error_ != 0) throw std::system_error(error_, std::generic_category(), call);
  }

  int fd_;
  lesson3::EventMask event_;
  int error_ = 0;
};

class ReadSome final : public IoWaiter {
 public:
  ReadSome(const Socket& socket, std::span<char> buffer)
      : IoWaiter(socket, lesson3::event_read), buffer_(buffer) {}
  std::size_t await_resume() {
    resumed("recv");
    return received_;
  }

 private:
  Attempt attempt() override {
    ssize_t received = 0;
    while ((received = recv(fd_, buffer_.data(), buffer_.size(), 0)) < 0 && errno == EINTR) {
    }
    if (received < 0) return failed();
    received_ = static_cast<std::size_t>(received);
    return received_ > 0 && received_ < buffer_.size() ? Attempt::done_and_emptied : Attempt::done;
  }

  std::span<char> buffer_;
  std::size_t received_ = 0;
};

class WriteAll final : public IoWaiter {
 public:
  WriteAll(const Socket& socket, std::span<const char> bytes)
      : IoWaiter(socket, lesson3::event_write), unsent_(bytes) {}
  void await_resume() { resumed("send"); }

 private:
  Attempt attempt() override {
    while (!unsent_.empty()) {
      // MSG_NOSIGNAL: a vanished peer is an EPIPE error here, not a SIGPIPE.
      const ssize_t sent = send(fd_, unsent_.data(), unsent_.size(), MSG_NOSIGNAL);
      if (sent >= 0) unsent_ = unsent_.subspan(static_cast<std::size_t>(sent));
      if (sent < 0 && errno != EINTR) return failed();
    }
    return Attempt::done;
  }

  std::span<const char> unsent_;
};

class Readable final : public IoWaiter {
 public:
  explicit Readable(const Socket& socket) : IoWaiter(socket, lesson3::event_read) {}
  void await_resume() { resumed("poll"); }

 private:
  Attempt attempt() override {  // poll() with no timeout only looks
    pollfd entry{fd_, POLLIN, 0};
    return poll(&entry, 1, 0) > 0 ? Attempt::done : Attempt::would_block;
  }
};

// asyncio's data = await loop.sock_recv(sock, len(buffer)): how many bytes came
// (at least one), or 0 once the peer has closed (or for an empty buffer); a reset throws.
inline ReadSome read_some(const Socket& socket, std::span<char> buffer) {
  return ReadSome(socket, buffer);
}

// asyncio's await loop.sock_sendall(sock, data): every byte, however often the
// socket fills up (`bytes` must live until then). A vanished peer throws.
inline WriteAll write_all(const Socket& socket, std::span<const char> bytes) {
  return WriteAll(socket, bytes);
}

// asyncio's conn, address = await loop.sock_accept(listener), for a listener
// that outlives the task. Out of descriptors or memory, accept_client() turns
// the client away with a line on standard error, as every lesson does.
inline Task<Socket> accept(const Socket& listener) {
  while (true) {
    if (std::optional<common::FileDescriptor> client = common::accept_client(listener.get())) {
      co_return Socket(std::move(*client));
    }
    co_await Readable(listener);  // poll() says whether more clients are queued
  }
}

}  // namespace lesson6
