// Lesson 6's runtime, part 4 continued, the end: the socket calls themselves.
#include "6_async_await/runtime/io.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <system_error>
#include <utility>

namespace lesson6 {

void Socket::close() noexcept {
  if (!fd_) return;
  if (EventLoop* const loop = EventLoop::running()) loop->forget(fd_.get());
  fd_.reset();
}

Task<Socket> accept(const Socket& listener) {
  while (true) {
    common::FileDescriptor client(
        accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (client) co_return Socket(std::move(client));
    const int error = errno;
    if (error == EAGAIN || error == EWOULDBLOCK) {
      co_await readable(listener);
    } else if (error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM) {
      // The client stays queued, so the listener stays readable: rest, not spin.
      std::cerr << "accept: " << std::strerror(error) << "; not accepting for "
                << accept_pause.count() << " ms\n";
      co_await sleep(accept_pause);
    } else if (error != EINTR && !common::client_gone(error)) {
      throw std::system_error(error, std::generic_category(), "accept");
    }
  }
}

namespace detail {

void SocketCall::throw_error(const char* call) const {
  throw std::system_error(error_, std::generic_category(), call);
}

IoWaiter::Attempt ReadSome::attempt() {
  while (true) {
    const ssize_t received = recv(fd_, buffer_.data(), buffer_.size(), 0);
    if (received >= 0) {
      received_ = static_cast<std::size_t>(received);
      const bool emptied = received_ > 0 && received_ < buffer_.size();
      return emptied ? Attempt::done_and_emptied : Attempt::done;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Attempt::would_block;
    if (errno != EINTR) {
      error_ = errno;
      return Attempt::done;
    }
  }
}

IoWaiter::Attempt WriteAll::attempt() {
  while (!unsent_.empty()) {
    // MSG_NOSIGNAL: a vanished peer is an EPIPE error here, not a SIGPIPE.
    const ssize_t sent = send(fd_, unsent_.data(), unsent_.size(), MSG_NOSIGNAL);
    if (sent >= 0) {
      unsent_ = unsent_.subspan(static_cast<std::size_t>(sent));
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return Attempt::would_block;
    } else if (errno != EINTR) {
      error_ = errno;
      break;
    }
  }
  return Attempt::done;
}

// poll() with no timeout only looks: readable now, or not yet.
IoWaiter::Attempt Readable::attempt() {
  pollfd entry{fd_, POLLIN, 0};
  int ready = 0;
  while ((ready = poll(&entry, 1, 0)) < 0 && errno == EINTR) {
  }
  if (ready < 0) error_ = errno;
  return ready == 0 ? Attempt::would_block : Attempt::done;
}

}  // namespace detail

}  // namespace lesson6
