// Lesson 7's runtime, part 3, the last: the operations tasks co_await. Each
// prepares one request for the ring (liburing's io_uring_prep_...()) and
// reads its completion; the loop does the rest. The same calls as lesson 6's
// io.hpp, so that a program moves from one runtime to the other unchanged.
#pragma once

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <system_error>
#include <utility>

#include "7_io_uring/runtime/event_loop.hpp"
#include "common/net.hpp"
#include "observer/observer.hpp"

namespace lesson7 {

// A socket that tasks submit operations on; it owns its descriptor. Before it
// closes, no operation on it may be in flight: close() cancels none of them,
// and the kernel would hold the socket open until each completed. Here every
// operation lives in a frame that cancels it when it goes, and a task's
// awaiting frame goes before the socket it owns.
class Socket {
 public:
  explicit Socket(common::FileDescriptor fd) : fd_(std::move(fd)) {}
  Socket(Socket&&) noexcept = default;
  ~Socket() {
    if (fd_) observer::close(fd_.get(), "closing");
  }

  int get() const { return fd_.get(); }

 private:
  common::FileDescriptor fd_;
};

class ReadSome final : public Operation {
 public:
  ReadSome(const Socket& socket, std::span<char> buffer)
      : Operation("recv", socket.get()), buffer_(buffer) {}
  std::size_t await_resume() const {
    if (result_ < 0) {
      observer::read(fd(), "recv failed");
      throw std::system_error(-result_, std::generic_category(), "recv");
    }
    if (result_ == 0) observer::read(fd(), "the peer closed the connection");
    if (result_ > 0) observer::read(fd(), "received ", result_, " bytes");
    return static_cast<std::size_t>(result_);
  }

 private:
  void prepare(io_uring_sqe& request) override {
    io_uring_prep_recv(&request, fd(), buffer_.data(), buffer_.size(), 0);
  }
  bool completed(int result) override {
    if (submitted_again(result)) return false;
    result_ = result;
    return true;
  }

  std::span<char> buffer_;  // the kernel's from submission to completion
  int result_ = 0;
};

class WriteAll final : public Operation {
 public:
  WriteAll(const Socket& socket, std::span<const char> bytes)
      : Operation("send", socket.get()), unsent_(bytes) {}
  bool await_ready() const noexcept { return unsent_.empty(); }
  void await_resume() const {
    if (result_ < 0) {
      observer::write(fd(), "send failed");
      throw std::system_error(-result_, std::generic_category(), "send");
    }
    observer::write(fd(), "sent ", result_, " bytes, 0 still to send");
  }

 private:
  // MSG_NOSIGNAL: a vanished peer is an EPIPE error here, not a SIGPIPE.
  void prepare(io_uring_sqe& request) override {
    io_uring_prep_send(&request, fd(), unsent_.data(), unsent_.size(), MSG_NOSIGNAL);
  }
  // A short send is no error: send the rest, and only once this send is
  // done, since two sends in flight on one socket may go out of order.
  bool completed(int result) override {
    if (submitted_again(result)) return false;
    result_ = result;
    if (result < 0) return true;
    unsent_ = unsent_.subspan(static_cast<std::size_t>(result));
    if (unsent_.empty()) return true;
    observer::write(fd(), "sent ", result, " bytes, ", unsent_.size(), " still to send");
    EventLoop::current().submit(*this);
    return false;
  }

  std::span<const char> unsent_;
  int result_ = 0;  // of the last send: how many bytes it took, or -errno
};

class Accept final : public Operation {
 public:
  explicit Accept(const Socket& listener) : Operation("accept", listener.get()) {}
  // A client accepted for a task that is gone (destroyed before it resumed,
  // or as the kernel accepted) would stay open, with nobody to close it.
  ~Accept() {
    // Cancelled here, not in ~Operation: what it brings back is seen here.
    if (EventLoop* const loop = EventLoop::running()) loop->cancel(*this);
    if (waiting_for_a_client_) return;  // a poll brings back no descriptor
    const Socket unclaimed{common::FileDescriptor(result_ >= 0 ? result_ : cancelled_result())};
  }
  // The client's descriptor, the task's from now on; or, once a client
  // waits after the kernel's accept failed, -errno: accept() below then
  // takes the client itself.
  int await_resume() noexcept { return std::exchange(result_, -1); }

 private:
  void prepare(io_uring_sqe& request) override {
    if (waiting_for_a_client_) {
      io_uring_prep_poll_add(&request, fd(), POLLIN);
    } else {
      io_uring_prep_accept(&request, fd(), nullptr, nullptr, SOCK_CLOEXEC);
    }
  }
  // The kernel's accept takes a descriptor before it looks for a client: out
  // of descriptors, it fails at once, client or not, and would again and
  // again. So after a failure this waits for a client instead, with a poll:
  // readiness, as in lesson 6.
  bool completed(int result) override {
    if (waiting_for_a_client_) return true;  // one waits: result_ still says why it failed
    result_ = result;
    if (result >= 0) {
      observer::open(result, "accepted");
      return true;
    }
    observer::note(fd(), "accept failed; a poll waits for the next client");
    waiting_for_a_client_ = true;
    EventLoop::current().submit(*this);
    return false;
  }

  int result_ = -1;  // no client yet
  bool waiting_for_a_client_ = false;
};

// A timer is an operation too: the kernel completes it when the time is up.
class Sleep final : public Operation {
 public:
  explicit Sleep(std::chrono::milliseconds duration)
      : Operation("timeout", -1), duration_(duration_of(duration)) {}
  void await_resume() const noexcept {}

 private:
  static __kernel_timespec duration_of(std::chrono::milliseconds duration) {
    const long long milliseconds = std::max<long long>(duration.count(), 0);
    return {milliseconds / 1000, milliseconds % 1000 * 1'000'000};
  }
  void prepare(io_uring_sqe& request) override {
    io_uring_prep_timeout(&request, &duration_, 0, 0);
  }
  bool completed(int) override { return true; }  // -ETIME: the time is up

  __kernel_timespec duration_;
};

// asyncio's data = await loop.sock_recv(sock, len(buffer)): how many bytes came
// (at least one), or 0 once the peer has closed; a reset throws.
inline ReadSome read_some(const Socket& socket, std::span<char> buffer) {
  return ReadSome(socket, buffer);
}

// asyncio's await loop.sock_sendall(sock, data): every byte, however often the
// kernel takes only part (`bytes` must live until then). A vanished peer throws.
inline WriteAll write_all(const Socket& socket, std::span<const char> bytes) {
  return WriteAll(socket, bytes);
}

// asyncio's await asyncio.sleep(seconds).
inline Sleep sleep(std::chrono::milliseconds duration) {
  return Sleep(duration);
}

// asyncio's conn, address = await loop.sock_accept(listener), for a
// non-blocking listener that outlives the task. When the kernel's accept
// fails (out of descriptors, a client gone while queued), common's
// accept_client() takes the client that waits, or turns it away while
// descriptors are short, as every lesson does.
inline Task<Socket> accept(const Socket& listener) {
  while (true) {
    const int client = co_await Accept(listener);
    if (client >= 0) co_return Socket(common::FileDescriptor(client));
    if (std::optional<common::FileDescriptor> late = common::accept_client(listener.get())) {
      co_return Socket(std::move(*late));
    }
  }
}

}  // namespace lesson7
