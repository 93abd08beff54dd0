// Lesson 6's runtime, part 4: sockets that tasks co_await. (Next, io.cpp, the
// last file: the calls themselves.)
//
//   lesson6::Socket client = co_await accept(listener);
//   const std::size_t received = co_await read_some(client, buffer);
//   co_await write_all(client, std::span(buffer).first(received));
//
// Python: loop.sock_accept(), loop.sock_recv(), loop.sock_sendall(). A write
// or an accept makes its call at once, on a non-blocking socket, and suspends
// its task only if the call met EAGAIN; the loop makes it again at the next
// edge, and resumes the task once it went through. A read never goes on at
// once: if the socket may hold data it reads, but its task goes on next turn;
// otherwise it waits for an edge. Either way everybody else has a turn first,
// so a client that sends without a pause cannot keep the loop to itself
// (asyncio's streams read once per turn likewise). read_some() and
// write_all() live in the awaiting coroutine's frame: they allocate nothing.
#pragma once

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <span>
#include <utility>

#include "3_async_with_callbacks/selector.hpp"
#include "6_async_await/runtime/event_loop.hpp"
#include "6_async_await/runtime/task.hpp"
#include "common/net.hpp"

namespace lesson6 {

// A non-blocking socket that tasks wait on. It owns its descriptor, and tells
// the loop before it closes it, so that a new socket given the same number
// starts afresh.
class Socket {
 public:
  Socket() = default;
  explicit Socket(common::FileDescriptor fd) : fd_(std::move(fd)) {}
  Socket(Socket&&) noexcept = default;
  ~Socket() { close(); }

  int get() const { return fd_.get(); }
  explicit operator bool() const { return static_cast<bool>(fd_); }
  void close() noexcept;  // with no task waiting on it: that one would never wake

 private:
  common::FileDescriptor fd_;
};

namespace detail {

// What every socket awaiter shares; a derived one makes its call in attempt().
class SocketCall : public IoWaiter {
 public:
  SocketCall(const SocketCall&) = delete;  // the loop holds our address while we wait

  // A write tries at once; a read waits for its turn.
  bool await_ready() { return event_ == lesson3::event_write && attempt() != Attempt::would_block; }
  void await_suspend(std::coroutine_handle<> coroutine) {
    awaiting = coroutine;
    EventLoop::current().wait(fd_, event_, *this);
  }

 protected:
  SocketCall(const Socket& socket, lesson3::EventMask event) : fd_(socket.get()), event_(event) {}
  // A task destroyed while it waits stops waiting.
  ~SocketCall() {
    EventLoop* const loop = EventLoop::running();
    if (awaiting && loop != nullptr) loop->stop_waiting(fd_, event_, *this);
  }
  void resumed(const char* call) {  // for await_resume(): throws if the call failed
    awaiting = {};
    if (error_ != 0) throw_error(call);
  }

  int fd_;
  int error_ = 0;  // errno of a call that failed for good

 private:
  [[noreturn]] void throw_error(const char* call) const;

  lesson3::EventMask event_;
};

class ReadSome final : public SocketCall {
 public:
  ReadSome(const Socket& socket, std::span<char> buffer)
      : SocketCall(socket, lesson3::event_read), buffer_(buffer) {}
  std::size_t await_resume() {
    resumed("recv");
    return received_;
  }

 private:
  Attempt attempt() override;
  std::span<char> buffer_;
  std::size_t received_ = 0;
};

class WriteAll final : public SocketCall {
 public:
  WriteAll(const Socket& socket, std::span<const char> bytes)
      : SocketCall(socket, lesson3::event_write), unsent_(bytes) {}
  void await_resume() { resumed("send"); }

 private:
  Attempt attempt() override;
  std::span<const char> unsent_;
};

class Readable final : public SocketCall {
 public:
  explicit Readable(const Socket& socket) : SocketCall(socket, lesson3::event_read) {}
  void await_resume() { resumed("poll"); }

 private:
  Attempt attempt() override;
};

}  // namespace detail

// How long accept() leaves the listener alone when the process is out of
// descriptors: long enough not to spin, short enough to barely notice.
inline constexpr std::chrono::milliseconds accept_pause{100};

// Python: conn, address = await loop.sock_accept(listener). Out of
// descriptors (EMFILE, ENFILE) or memory, it says so in one line on standard
// error and rests accept_pause, as asyncio's servers do; other errors throw
// std::system_error. `listener` must outlive the wait.
Task<Socket> accept(const Socket& listener);

// Python: data = await loop.sock_recv(sock, len(buffer)): how many bytes came
// (at least one), or 0 once the peer has closed; a reset throws
// std::system_error.
inline detail::ReadSome read_some(const Socket& socket, std::span<char> buffer) {
  return detail::ReadSome(socket, buffer);
}

// Python: await loop.sock_sendall(sock, data): every byte, however often the
// socket fills up; `bytes` must live until then. A peer that is gone throws
// std::system_error (EPIPE, ECONNRESET).
inline detail::WriteAll write_all(const Socket& socket, std::span<const char> bytes) {
  return detail::WriteAll(socket, bytes);
}

// Waits until the socket is readable, for code that makes its own calls.
inline detail::Readable readable(const Socket& socket) {
  return detail::Readable(socket);
}

}  // namespace lesson6
