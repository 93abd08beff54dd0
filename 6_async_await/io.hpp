// Lesson 6, part 4 of the runtime: sockets that a coroutine can co_await.
// (Read task.hpp, event_loop.hpp and gather.hpp first.)
//
//   common::FileDescriptor client = co_await accept(listener);
//   const std::size_t received = co_await read_some(client.get(), buffer);
//   co_await write_all(client.get(), std::span(buffer).first(received));
//
// Each awaitable tries its system call at once, on a non-blocking socket. Only
// when the call would block (EAGAIN) does the coroutine suspend: the loop
// watches the descriptor and tries the call again whenever it is ready, and
// resumes the coroutine once the call went through. These awaitables are not
// Tasks: they live in the awaiting coroutine's frame, so awaiting one
// allocates nothing.
//
// Python's asyncio has them too: loop.sock_accept(), loop.sock_recv(),
// loop.sock_sendall().
#pragma once

#include <coroutine>
#include <cstddef>
#include <span>

#include "3_async_with_callbacks/selector.hpp"
#include "6_async_await/event_loop.hpp"
#include "common/net.hpp"

namespace lesson6 {

namespace detail {

// What every awaitable here shares: the waiting. A derived class supplies
// attempt(), its system call.
class SocketCall : public IoWaiter {
 public:
  SocketCall(const SocketCall&) = delete;  // the loop holds our address while we wait
  SocketCall& operator=(const SocketCall&) = delete;

  bool await_ready() { return attempt(); }
  void await_suspend(std::coroutine_handle<> awaiting);
  void on_ready() final;

 protected:
  SocketCall(int fd, lesson3::EventMask event) : fd_(fd), event_(event) {}
  // A task destroyed while it waits here stops waiting.
  ~SocketCall();

  // Makes the call once; false when it would block (EAGAIN), true when it
  // went through or failed for good.
  virtual bool attempt() = 0;

  int fd_;

 private:
  lesson3::EventMask event_;
  std::coroutine_handle<> awaiting_;  // set while we wait
};

class Accept final : public SocketCall {
 public:
  explicit Accept(int listener) : SocketCall(listener, lesson3::event_read) {}
  common::FileDescriptor await_resume();

 private:
  bool attempt() override;
  int client_ = -1;
  int error_ = 0;
};

class ReadSome final : public SocketCall {
 public:
  ReadSome(int fd, std::span<char> buffer) : SocketCall(fd, lesson3::event_read), buffer_(buffer) {}
  std::size_t await_resume() const;

 private:
  bool attempt() override;
  std::span<char> buffer_;
  std::size_t received_ = 0;
  int error_ = 0;
};

class WriteSome final : public SocketCall {
 public:
  WriteSome(int fd, std::span<const char> bytes)
      : SocketCall(fd, lesson3::event_write), bytes_(bytes) {}
  std::size_t await_resume() const;

 private:
  bool attempt() override;
  std::span<const char> bytes_;
  std::size_t sent_ = 0;
  int error_ = 0;
};

// write_some until every byte is sent, waiting whenever the socket is full.
class WriteAll final : public SocketCall {
 public:
  WriteAll(int fd, std::span<const char> bytes)
      : SocketCall(fd, lesson3::event_write), unsent_(bytes) {}
  void await_resume() const;

 private:
  bool attempt() override;
  std::span<const char> unsent_;
  int error_ = 0;
};

// Waits for readiness itself, and makes no call.
class Readiness final : public SocketCall {
 public:
  Readiness(int fd, lesson3::EventMask event) : SocketCall(fd, event) {}
  bool await_ready() const noexcept { return false; }
  void await_resume() const noexcept {}

 private:
  bool attempt() override { return true; }
};

}  // namespace detail

// Python: conn, address = await loop.sock_accept(listener). The new
// connection comes out non-blocking. Errors come out as std::system_error
// (EMFILE when we are out of descriptors).
inline detail::Accept accept(int listener) {
  return detail::Accept(listener);
}

// Python: data = await loop.sock_recv(fd, len(buffer)). How many bytes
// arrived (at least one), or 0 when the peer closed the connection; a reset
// throws std::system_error.
inline detail::ReadSome read_some(int fd, std::span<char> buffer) {
  return detail::ReadSome(fd, buffer);
}

// How many bytes the kernel took (at least one, unless `bytes` is empty); a
// peer that is gone throws std::system_error (EPIPE, ECONNRESET).
inline detail::WriteSome write_some(int fd, std::span<const char> bytes) {
  return detail::WriteSome(fd, bytes);
}

// Python: await loop.sock_sendall(fd, bytes). Sends every byte, however many
// times the socket fills up; `bytes` must stay alive until then. An awaitable
// rather than a Task: an echo server awaits it for every message, and a Task
// would allocate a frame each time.
inline detail::WriteAll write_all(int fd, std::span<const char> bytes) {
  return detail::WriteAll(fd, bytes);
}

// Wait until fd is readable or writable, for code that makes its own calls.
inline detail::Readiness readable(int fd) {
  return detail::Readiness(fd, lesson3::event_read);
}
inline detail::Readiness writable(int fd) {
  return detail::Readiness(fd, lesson3::event_write);
}

}  // namespace lesson6
