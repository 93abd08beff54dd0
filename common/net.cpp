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

#include "observer/observer.hpp"

namespace common {

namespace {

std::system_error os_error(std::string_view what, int error = errno) {
  return {error, std::generic_category(), std::string(what)};
}

// "H:P" of the address that getsockname() or getpeername() gives; empty if
// the call fails.
std::string name_of(int fd, int (*get_name)(int, sockaddr*, socklen_t*)) {
  sockaddr_in address{};
  socklen_t length = sizeof address;
  char text[INET_ADDRSTRLEN] = {};
  if (get_name(fd, reinterpret_cast<sockaddr*>(&address), &length) < 0) return {};
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
  for (const int gone : {ECONNABORTED, EPROTO, ENETDOWN, ENETUNREACH, EHOSTDOWN, EHOSTUNREACH,
                         ENONET, ENOPROTOOPT, EOPNOTSUPP}) {
    if (error == gone) return true;
  }
  return false;
}

}  // namespace

void FileDescriptor::reset() {
  // close() is not retried on EINTR: on Linux the descriptor is gone anyway.
  if (fd_ >= 0) ::close(release());
}

FileDescriptor listen_tcp(std::string_view host, std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  const std::string host_text(host);
  if (inet_pton(AF_INET, host_text.c_str(), &address.sin_addr) != 1) {
    throw os_error("not an IPv4 address: " + host_text, EINVAL);
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
  std::string name = name_of(fd, getsockname);
  if (name.empty()) throw os_error("getsockname");
  return name;
}

std::string peer_name(int fd) {
  // A peer that has already reset the connection has no name any more.
  std::string name = name_of(fd, getpeername);
  return name.empty() ? "?:?" : name;
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
  ssize_t received = 0;
  do {
    received = recv(fd, buffer.data(), buffer.size(), 0);
  } while (received < 0 && errno == EINTR);
  if (received > 0) {
    observer::read(fd, "received ", received, " bytes");
    return static_cast<std::size_t>(received);
  }
  if (received < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
  // 0 is an orderly close; the rest, ECONNRESET and the like.
  const int error = received == 0 ? 0 : errno;
  observer::read(fd, error == 0 ? "the peer closed the connection" : std::strerror(error));
  errno = error;
  return std::nullopt;
}

std::optional<std::size_t> send_some(int fd, std::span<const char> bytes) {
  ssize_t sent = 0;
  do {
    sent = send(fd, bytes.data(), bytes.size(), 0);
  } while (sent < 0 && errno == EINTR);
  if (sent >= 0) {
    const auto taken = static_cast<std::size_t>(sent);
    observer::write(fd, "sent ", taken, " bytes, ", bytes.size() - taken, " still to send");
    return taken;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
  const int error = errno;  // EPIPE, ECONNRESET
  observer::note(fd, "send() failed: ", std::strerror(error));
  errno = error;
  return std::nullopt;
}

long raise_descriptor_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) < 0) throw os_error("getrlimit(RLIMIT_NOFILE)");
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) < 0) throw os_error("setrlimit(RLIMIT_NOFILE)");
  return static_cast<long>(std::min<rlim_t>(limit.rlim_cur, LONG_MAX));
}

void lower_descriptor_limit(int limit) {
  rlimit current{};
  if (getrlimit(RLIMIT_NOFILE, &current) < 0) throw os_error("getrlimit(RLIMIT_NOFILE)");
  current.rlim_cur = std::min(current.rlim_cur, static_cast<rlim_t>(limit));
  if (setrlimit(RLIMIT_NOFILE, &current) < 0) throw os_error("setrlimit(RLIMIT_NOFILE)");
}

ClosedLine::~ClosedLine() {
  if (!name_.empty()) std::cout << "connection from " << name_ << " closed" << std::endl;
}

void print_listening(int listener) {
  std::cout << "listening on " << local_name(listener) << std::endl;
}

}  // namespace common
