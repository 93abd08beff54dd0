#include "6_async_await/io.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <system_error>
#include <utility>

namespace lesson6 {

namespace detail {

void SocketCall::await_suspend(std::coroutine_handle<> awaiting) {
  awaiting_ = awaiting;
  EventLoop::current().add_waiter(fd_, event_, *this);
}

void SocketCall::on_ready() {
  if (!attempt()) return;  // stale readiness: EAGAIN again, keep waiting
  EventLoop::current().remove_waiter(fd_, event_);
  std::exchange(awaiting_, {}).resume();
}

SocketCall::~SocketCall() {
  if (awaiting_) EventLoop::current().remove_waiter(fd_, event_);
}

bool Accept::attempt() {
  while (true) {
    client_ = accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (client_ >= 0) return true;
    // A client that gave up while queued is no reason to wait or to fail.
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
    error_ = errno;
    return true;
  }
}

common::FileDescriptor Accept::await_resume() {
  if (error_ != 0) throw std::system_error(error_, std::generic_category(), "accept");
  return common::FileDescriptor(std::exchange(client_, -1));
}

bool ReadSome::attempt() {
  while (true) {
    const ssize_t received = recv(fd_, buffer_.data(), buffer_.size(), 0);
    if (received >= 0) {
      received_ = static_cast<std::size_t>(received);
      return true;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
    error_ = errno;
    return true;
  }
}

std::size_t ReadSome::await_resume() const {
  if (error_ != 0) throw std::system_error(error_, std::generic_category(), "recv");
  return received_;
}

bool WriteSome::attempt() {
  while (true) {
    // MSG_NOSIGNAL: a vanished peer is an EPIPE error here, not a SIGPIPE.
    const ssize_t sent = send(fd_, bytes_.data(), bytes_.size(), MSG_NOSIGNAL);
    if (sent >= 0) {
      sent_ = static_cast<std::size_t>(sent);
      return true;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
    error_ = errno;
    return true;
  }
}

std::size_t WriteSome::await_resume() const {
  if (error_ != 0) throw std::system_error(error_, std::generic_category(), "send");
  return sent_;
}

bool WriteAll::attempt() {
  while (!unsent_.empty()) {
    const ssize_t sent = send(fd_, unsent_.data(), unsent_.size(), MSG_NOSIGNAL);
    if (sent >= 0) {
      unsent_ = unsent_.subspan(static_cast<std::size_t>(sent));
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return false;
    } else if (errno != EINTR) {
      error_ = errno;
      return true;
    }
  }
  return true;
}

void WriteAll::await_resume() const {
  if (error_ != 0) throw std::system_error(error_, std::generic_category(), "send");
}

}  // namespace detail

}  // namespace lesson6
