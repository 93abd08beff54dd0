// Lesson 6's runtime, part 4, the last: sockets that tasks co_await, as with
// asyncio's loop.sock_accept(), sock_recv() and sock_sendall():
//
//   lesson6::Socket client = co_await lesson6::accept(listener);
//   const std::size_t received = co_await lesson6::read_some(client, buffer);
//   co_await lesson6::write_all(client, std::span(buffer).first(received));
//
// Each is an awaiter that lives in the awaiting frame: nothing to allocate. An
// accept or a read waits first, and the loop makes its call once the socket
// is readable; a write tries at once (unless another writer waits), and waits
// only while the socket is full.
#pragma once

#include <cerrno>
#include <coroutine>
#include <cstddef>
#include <optional>
#include <span>
#include <system_error>
#include <utility>

#include "3_async_with_callbacks/selector.hpp"
#include "6_async_await/runtime/event_loop.hpp"
#include "common/net.hpp"
#include "observer/observer.hpp"

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
    if (!fd_) return;
    observer::close(get(), "closing");
    if (EventLoop* const loop = EventLoop::running()) loop->forget(get());
    fd_.reset();
  }

 private:
  common::FileDescriptor fd_;
};

// What every socket call shares. While its task waits, the loop holds it, and
// makes its call() once the socket is ready.
class IoWaiter {
 public:
  IoWaiter(const IoWaiter&) = delete;  // the loop holds our address while we wait
  // The call, once: false if it would block (EAGAIN), true if it went through
  // or failed (then await_resume() throws).
  virtual bool call() = 0;
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
  void resumed(const char* call) {  // for await_resume(): throws if the call failed
    awaiting = {};
    if (error_ != 0) throw std::system_error(error_, std::generic_category(), call);
  }

  int fd_;
  lesson3::EventMask event_;
  int error_ = 0;
};

class Accept final : public IoWaiter {
 public:
  explicit Accept(const Socket& listener) : IoWaiter(listener, lesson3::event_read) {}
  bool await_ready() const noexcept { return false; }
  Socket await_resume() {
    resumed("accept");
    return Socket(std::move(*client_));
  }

 private:
  bool call() override {
    try {
      client_ = common::accept_client(fd_);
    } catch (const std::system_error& error) {  // for the awaiting task to handle
      error_ = error.code().value();
      return true;
    }
    return client_.has_value();  // none: it left, or was turned away; wait for the next
  }

  std::optional<common::FileDescriptor> client_;
};

class ReadSome final : public IoWaiter {
 public:
  ReadSome(const Socket& socket, std::span<char> buffer)
      : IoWaiter(socket, lesson3::event_read), buffer_(buffer) {}
  bool await_ready() const noexcept { return buffer_.empty(); }  // nothing to read into
  std::size_t await_resume() {
    resumed("recv");
    return received_;
  }

 private:
  bool call() override {
    const std::optional<std::size_t> received = common::receive_some(fd_, buffer_);
    if (received && *received == 0) return false;  // EAGAIN: wait on
    if (received) received_ = *received;
    if (!received) error_ = errno;  // 0 at the end of the stream: no error, no bytes
    return true;
  }

  std::span<char> buffer_;
  std::size_t received_ = 0;
};

class WriteAll final : public IoWaiter {
 public:
  WriteAll(const Socket& socket, std::span<const char> bytes)
      : IoWaiter(socket, lesson3::event_write), unsent_(bytes) {}
  // A socket has room more often than not; but a writer that waits goes first.
  bool await_ready() { return !EventLoop::current().is_waited_on(fd_, event_) && call(); }
  void await_resume() { resumed("send"); }

 private:
  // A vanished peer makes send() fail with EPIPE, not kill us with SIGPIPE:
  // the loop ignores that signal (common::install_stop_handlers()).
  bool call() override {
    while (!unsent_.empty()) {
      const std::optional<std::size_t> sent = common::send_some(fd_, unsent_);
      if (!sent) {
        error_ = errno;
        return true;
      }
      if (*sent == 0) return false;  // full: wait for room
      unsent_ = unsent_.subspan(*sent);
    }
    return true;
  }

  std::span<const char> unsent_;
};

// asyncio's conn, address = await loop.sock_accept(listener), for a
// non-blocking listener that outlives the wait. Out of descriptors or memory,
// common::accept_client() turns the client away with a line on standard
// error, as every lesson does, and the task waits for the next client.
inline Accept accept(const Socket& listener) {
  return Accept(listener);
}

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

}  // namespace lesson6
