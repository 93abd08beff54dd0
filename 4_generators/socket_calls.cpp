#include "4_generators/socket_calls.hpp"

#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <iostream>

namespace lesson4 {

namespace {

// Opened at startup, while descriptors are still to be had.
common::FileDescriptor spare_descriptor(::open("/dev/null", O_RDONLY | O_CLOEXEC));

// Frees the spare descriptor for a moment, to accept the client and close it.
void turn_away(int listener) {
  std::cerr << "accept: " << std::strerror(errno) << "; turning a client away\n";
  spare_descriptor.reset();
  common::FileDescriptor(accept4(listener, nullptr, nullptr, SOCK_CLOEXEC)).reset();
  spare_descriptor = common::FileDescriptor(::open("/dev/null", O_RDONLY | O_CLOEXEC));
}

}  // namespace

std::optional<common::FileDescriptor> accept_connection(int listener) {
  while (true) {
    common::FileDescriptor connection(
        accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (connection) return connection;
    if (errno == EINTR) continue;
    // Out of descriptors or memory: the client would stay queued and the
    // listener readable, and the loop would spin.
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
      turn_away(listener);
    }
    // Anything else (EAGAIN, ECONNABORTED...) concerns this attempt only: the
    // selector will say when there is another client.
    return std::nullopt;
  }
}

std::optional<std::size_t> receive_some(int fd, std::span<char> buffer) {
  while (true) {
    const ssize_t received = recv(fd, buffer.data(), buffer.size(), 0);
    if (received > 0) return static_cast<std::size_t>(received);
    if (received == 0) return std::nullopt;  // an orderly close
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    if (errno != EINTR) return std::nullopt;  // ECONNRESET and the like
  }
}

}  // namespace lesson4
