#include "4_generators/socket_calls.hpp"

#include <sys/socket.h>

#include <cerrno>

namespace lesson4 {

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
