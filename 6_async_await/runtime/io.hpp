// Lesson 6, part 4 of the runtime: sockets that a coroutine can co_await.
// (Read task.hpp, event_loop.hpp and gather.hpp first.)
//
//   lesson6::Socket client = co_await accept(listener);
//   const std::size_t received = co_await read_some(client, buffer);
//   co_await write_all(client, std::span(buffer).first(received));
//
// A write or an accept tries its system call at once, on a non-blocking
// socket, and suspends the coroutine only when the call would block (EAGAIN):
// the loop watches the descriptor, tries the call again whenever it is ready,
// and resumes the coroutine once the call went through. A read suspends
// first, and reads when the loop reports the socket readable, once per turn,
// as lesson 3's callbacks do: a read that went through at once would let a
// client who sends without a pause keep its task, and so the whole loop,
// busy for as long as it likes. read_some(), write_some() and write_all() are
// not Tasks: they live in the awaiting coroutine's frame, so awaiting one
// allocates nothing. accept() is a Task, and allocates once per client.
//
// Python's asyncio has them too: loop.sock_accept(), loop.sock_recv(),
// loop.sock_sendall(). (sock_recv() does try at once; asyncio's streams read
// once per turn, as we do.)
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

// A socket that tasks wait on. It owns its descriptor as
// common::FileDescriptor does, and one thing more: before closing it, it tells
// the loop to forget the descriptor (EventLoop::forget()). The loop keeps
// watching a socket between two waits, and closing the descriptor silently
// takes it off epoll's list; without the warning, the loop would believe that
// a new socket which gets the same number is watched already, and never wake
// its tasks.
class Socket {
 public:
  Socket() = default;
  // Takes over a non-blocking descriptor: accept() makes them so, and a
  // listener is made so with common::set_nonblocking().
  explicit Socket(common::FileDescriptor fd) : fd_(std::move(fd)) {}
  Socket(Socket&& other) noexcept = default;
  Socket& operator=(Socket&& other) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() { close(); }

  int get() const { return fd_.get(); }
  explicit operator bool() const { return static_cast<bool>(fd_); }
  // No task may be waiting on the socket then: it would never wake.
  void close() noexcept;

 private:
  common::FileDescriptor fd_;
};

namespace detail {

// What every awaitable here shares: the waiting. A derived class supplies
// attempt(), its system call.
class SocketCall : public IoWaiter {
 public:
  SocketCall(const SocketCall&) = delete;  // the loop holds our address while we wait
  SocketCall& operator=(const SocketCall&) = delete;

  bool await_ready() { return attempt(); }
  void await_suspend(std::coroutine_handle<> awaiting);
  std::coroutine_handle<> on_ready() final;

 protected:
  SocketCall(const Socket& socket, lesson3::EventMask event) : fd_(socket.get()), event_(event) {}
  // A task destroyed while it waits here stops waiting.
  ~SocketCall() {
    if (awaiting_) stop_waiting();
  }

  // Makes the call once; false when it would block (EAGAIN), true when it
  // went through or failed for good (then error_ says why).
  virtual bool attempt() = 0;
  // For await_resume(): the call's error, as an exception.
  void throw_if_failed(const char* call) const {
    if (error_ != 0) throw_error(call);
  }

  int fd_;
  int error_ = 0;

 private:
  void stop_waiting() noexcept;
  [[noreturn]] void throw_error(const char* call) const;

  lesson3::EventMask event_;
  std::coroutine_handle<> awaiting_;  // set while we wait
};

class ReadSome final : public SocketCall {
 public:
  ReadSome(const Socket& socket, std::span<char> buffer)
      : SocketCall(socket, lesson3::event_read), buffer_(buffer) {}
  bool await_ready() const noexcept { return false; }  // wait for our turn, then read
  std::size_t await_resume() const {
    throw_if_failed("recv");
    return received_;
  }

 private:
  bool attempt() override;
  std::span<char> buffer_;
  std::size_t received_ = 0;
};

class WriteSome final : public SocketCall {
 public:
  WriteSome(const Socket& socket, std::span<const char> bytes)
      : SocketCall(socket, lesson3::event_write), bytes_(bytes) {}
  std::size_t await_resume() const {
    throw_if_failed("send");
    return sent_;
  }

 private:
  bool attempt() override;
  std::span<const char> bytes_;
  std::size_t sent_ = 0;
};

// write_some until every byte is sent, waiting whenever the socket is full.
class WriteAll final : public SocketCall {
 public:
  WriteAll(const Socket& socket, std::span<const char> bytes)
      : SocketCall(socket, lesson3::event_write), unsent_(bytes) {}
  void await_resume() const { throw_if_failed("send"); }

 private:
  bool attempt() override;
  std::span<const char> unsent_;
};

// Waits for readiness itself, and makes no call.
class Readiness final : public SocketCall {
 public:
  Readiness(const Socket& socket, lesson3::EventMask event) : SocketCall(socket, event) {}
  bool await_ready() const noexcept { return false; }
  void await_resume() const noexcept {}

 private:
  bool attempt() override { return true; }
};

}  // namespace detail

// How long accept() leaves the listener alone when the process is out of
// descriptors: long enough not to spin, short enough that a waiting client
// barely notices.
inline constexpr std::chrono::milliseconds accept_pause{100};

// Python: conn, address = await loop.sock_accept(listener). The new
// connection comes out non-blocking. Out of descriptors (EMFILE, ENFILE) or
// memory, it says so in one line on standard error, rests accept_pause, and
// tries again, as asyncio's servers do; other errors come out as
// std::system_error. `listener` must outlive the wait.
Task<Socket> accept(const Socket& listener);

// Python: data = await loop.sock_recv(sock, len(buffer)). Waits until the
// loop reports the socket readable, then says how many bytes arrived (at
// least one), or 0 when the peer closed the connection; a reset throws
// std::system_error.
inline detail::ReadSome read_some(const Socket& socket, std::span<char> buffer) {
  return detail::ReadSome(socket, buffer);
}

// How many bytes the kernel took (at least one, unless `bytes` is empty); a
// peer that is gone throws std::system_error (EPIPE, ECONNRESET).
inline detail::WriteSome write_some(const Socket& socket, std::span<const char> bytes) {
  return detail::WriteSome(socket, bytes);
}

// Python: await loop.sock_sendall(sock, bytes). Sends every byte, however
// many times the socket fills up; `bytes` must stay alive until then. An
// awaitable rather than a Task: an echo server awaits it for every message,
// and a Task would allocate a frame each time.
inline detail::WriteAll write_all(const Socket& socket, std::span<const char> bytes) {
  return detail::WriteAll(socket, bytes);
}

// Wait until the socket is readable, for code that makes its own calls
// (accept() does).
inline detail::Readiness readable(const Socket& socket) {
  return detail::Readiness(socket, lesson3::event_read);
}

}  // namespace lesson6
