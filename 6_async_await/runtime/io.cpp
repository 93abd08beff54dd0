#include "6_async_await/runtime/io.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <system_error>
#include <utility>

namespace lesson6 {

Socket& Socket::operator=(Socket&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::move(other.fd_);
  }
  return *this;
}

void Socket::close() noexcept {
  if (!fd_) return;
  if (EventLoop* loop = EventLoop::running()) loop->forget(fd_.get());
  fd_.reset();
}

namespace {

// The client that found us short stays queued, so the listener stays
// readable: these are worth a rest, not a retry at once.
bool out_of_resources(int error) {
  return error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM;
}

// Linux hands the errors of a connection still in the queue to accept() (man
// 2 accept): the client is gone, and the next one may be fine.
bool client_gone(int error) {
  switch (error) {
    case ECONNABORTED:
    case EPROTO:
    case ENETDOWN:
    case ENETUNREACH:
    case EHOSTDOWN:
    case EHOSTUNREACH:
    case ENONET:
    case ENOPROTOOPT:
    case EOPNOTSUPP:
      return true;
    default:
      return false;
  }
}

}  // namespace

Task<Socket> accept(const Socket& listener) {
  while (true) {
    common::FileDescriptor client(
        accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (client) co_return Socket(std::move(client));
    const int error = errno;
    if (error == EINTR || client_gone(error)) continue;
    if (error == EAGAIN || error == EWOULDBLOCK) {
      co_await readable(listener);
    } else if (out_of_resources(error)) {
      std::cerr << "accept: " << std::strerror(error) << "; not accepting for "
                << accept_pause.count() << " ms\n";
      co_await sleep(accept_pause);
    } else {
      throw std::system_error(error, std::generic_category(), "accept");
    }
  }
}

namespace detail {

void SocketCall::await_suspend(std::coroutine_handle<> awaiting) {
  awaiting_ = awaiting;
  EventLoop::current().add_waiter(fd_, event_, *this);
}

std::coroutine_handle<> SocketCall::on_ready() {
  if (!attempt()) return {};  // stale readiness: EAGAIN again, keep waiting
  return std::exchange(awaiting_, {});
}

void SocketCall::stop_waiting() noexcept {
  EventLoop::current().remove_waiter(fd_, event_, *this);
}

void SocketCall::throw_error(const char* call) const {
  throw std::system_error(error_, std::generic_category(), call);
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

}  // namespace detail

}  // namespace lesson6
