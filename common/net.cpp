#include "common/net.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <iostream>
#include <system_error>
#include <utility>

#include "observer/observer.hpp"

namespace common {

namespace {

std::system_error os_error(std::string_view what) {
  return {errno, std::generic_category(), std::string(what)};
}

std::string format_address(const sockaddr_in& address) {
  char text[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &address.sin_addr, text, sizeof text);
  return std::string(text) + ":" + std::to_string(ntohs(address.sin_port));
}

// Opened at startup, while descriptors are still to be had: when they run
// out, closing it frees one for a moment, to accept a client and close it.
FileDescriptor spare_descriptor(::open("/dev/null", O_RDONLY | O_CLOEXEC));

void turn_away(int listener) {
  std::cerr << "accept: " << std::strerror(errno) << "; turning a client away\n";
  spare_descriptor.reset();
  FileDescriptor(accept4(listener, nullptr, nullptr, SOCK_CLOEXEC)).reset();
  spare_descriptor = FileDescriptor(::open("/dev/null", O_RDONLY | O_CLOEXEC));
}

// Linux hands accept() the errors of a connection that failed in the queue
// (man 2 accept): that client is gone, and the next one may be fine.
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

FileDescriptor& FileDescriptor::operator=(FileDescriptor&& other) noexcept {
  if (this != &other) {
    reset();
    fd_ = other.release();
  }
  return *this;
}

int FileDescriptor::release() {
  return std::exchange(fd_, -1);
}

void FileDescriptor::reset() {
  // close() is not retried on EINTR: on Linux the descriptor is gone anyway.
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
}

FileDescriptor listen_tcp(std::string_view host, std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  const std::string host_text(host);
  if (inet_pton(AF_INET, host_text.c_str(), &address.sin_addr) != 1) {
    throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                            "not an IPv4 address: " + host_text);
  }

  FileDescriptor listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!listener) throw os_error("socket");
  // Lets a restarted server bind at once instead of waiting out TIME_WAIT.
  const int yes = 1;
  if (setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes) < 0) {
    throw os_error("setsockopt(SO_REUSEADDR)");
  }
  if (bind(listener.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) < 0) {
    throw os_error("cannot listen on " + host_text + ":" + std::to_string(port));
  }
  if (listen(listener.get(), SOMAXCONN) < 0) throw os_error("listen");
  return listener;
}

std::string local_name(int fd) {
  sockaddr_in address{};
  socklen_t length = sizeof address;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) < 0) {
    throw os_error("getsockname");
  }
  return format_address(address);
}

std::string peer_name(int fd) {
  sockaddr_in address{};
  socklen_t length = sizeof address;
  // A peer that has already reset the connection has no name any more.
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) < 0) return "?:?";
  return format_address(address);
}

void set_nonblocking(int fd) {
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) throw os_error("fcntl(O_NONBLOCK)");
}

std::optional<FileDescriptor> accept_client(int listener) {
  while (true) {
    FileDescriptor client(accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (client) {
      observer::open(client.get(), "accepted");
      return client;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK || client_gone(errno)) return std::nullopt;
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
      turn_away(listener);
      return std::nullopt;
    }
    throw os_error("accept");
  }
}

std::optional<std::size_t> receive_some(int fd, std::span<char> buffer) {
  while (true) {
    const ssize_t received = recv(fd, buffer.data(), buffer.size(), 0);
    if (received > 0) {
      observer::read(fd, "received ", received, " bytes");
      return static_cast<std::size_t>(received);
    }
    if (received < 0 && errno == EINTR) continue;
    if (received < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    // 0 is an orderly close; the rest, ECONNRESET and the like.
    const int error = received == 0 ? 0 : errno;
    observer::read(fd, error == 0 ? "the peer closed the connection" : std::strerror(error));
    errno = error;
    return std::nullopt;
  }
}

std::optional<std::size_t> send_some(int fd, std::span<const char> bytes) {
  while (true) {
    const ssize_t sent = send(fd, bytes.data(), bytes.size(), 0);
    if (sent >= 0) {
      const auto taken = static_cast<std::size_t>(sent);
      observer::write(fd, "sent ", taken, " bytes, ", bytes.size() - taken, " still to send");
      return taken;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    const int error = errno;  // EPIPE, ECONNRESET
    observer::note(fd, "send() failed: ", std::strerror(error));
    errno = error;
    return std::nullopt;
  }
}

long raise_descriptor_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) < 0) throw os_error("getrlimit(RLIMIT_NOFILE)");
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) < 0) throw os_error("setrlimit(RLIMIT_NOFILE)");
  }
  return static_cast<long>(std::min<rlim_t>(limit.rlim_cur, LONG_MAX));
}

void lower_descriptor_limit(int limit) {
  rlimit current{};
  if (getrlimit(RLIMIT_NOFILE, &current) < 0) throw os_error("getrlimit(RLIMIT_NOFILE)");
  if (current.rlim_cur > static_cast<rlim_t>(limit)) {
    current.rlim_cur = static_cast<rlim_t>(limit);
    if (setrlimit(RLIMIT_NOFILE, &current) < 0) throw os_error("setrlimit(RLIMIT_NOFILE)");
  }
}

ClosedLine::~ClosedLine() {
  if (!name_.empty()) std::cout << "connection from " << name_ << " closed" << std::endl;
}

void print_listening(int listener) {
  std::cout << "listening on " << local_name(listener) << std::endl;
}

}  // namespace common
