// The socket plumbing every lesson needs and no lesson is about: an owning
// file descriptor, a listening socket, a peer's name, non-blocking mode, and
// one accept(), recv() or send() on a non-blocking socket.
// Errors come out as std::system_error; main() turns them into exit codes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace common {

// Owns one descriptor and closes it exactly once (RAII). Move-only, like
// std::unique_ptr, because two owners would close it twice.
class FileDescriptor {
 public:
  FileDescriptor() = default;
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(other.release()) {}
  // By value: `other` takes this one's descriptor along, and closes it.
  FileDescriptor& operator=(FileDescriptor other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  FileDescriptor(const FileDescriptor&) = delete;
  ~FileDescriptor() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  void reset();

 private:
  int fd_ = -1;
};

// socket() + SO_REUSEADDR + bind() + listen(). Port 0 asks the kernel for any
// free port; local_name() tells which one it chose.
FileDescriptor listen_tcp(std::string_view host, std::uint16_t port);

// "127.0.0.1:5000" for our end or the peer's end of a connected socket.
std::string local_name(int fd);
std::string peer_name(int fd);

// Makes accept/recv/send return EAGAIN instead of blocking: the first step of
// every event loop.
void set_nonblocking(int fd);

// The next client from a non-blocking listener, itself non-blocking; nullopt
// when there is none after all (EAGAIN), or it left while it was queued.
// Out of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM), it turns
// the client away with one line on standard error rather than leave it
// queued: the listener would stay readable and an event loop would spin.
// Lessons 2 to 6 all accept with it, so they treat a shortage alike.
std::optional<FileDescriptor> accept_client(int listener);

// The size of an echo server's receive buffer, one per client. A client is
// not read again until all it sent has been sent back, so one that sends
// without reading costs us this much at most (backpressure). The course reads
// recv(4096); we take 1 KiB because lesson 6 keeps the buffer in each
// client's coroutine frame, which an idle client holds too: at 1 KiB a whole
// frame stays under 2 KiB, and ten thousand idle clients under 20 MiB.
inline constexpr std::size_t receive_buffer_size = 1024;

// One recv() on a non-blocking socket, retried only when a signal interrupts
// it. How many bytes came into `buffer` (0 when none have yet: EAGAIN means
// wait), or nullopt when the peer has closed the connection or reset it.
// `buffer` must not be empty: a recv() into nothing looks like a close.
std::optional<std::size_t> receive_some(int fd, std::span<char> buffer);

// One send() on a non-blocking socket, retried only when a signal interrupts
// it. How many bytes the kernel took (0 when the socket's buffer is full:
// EAGAIN means wait), or nullopt when the connection is broken (EPIPE,
// ECONNRESET; errno says which).
std::optional<std::size_t> send_some(int fd, std::span<const char> bytes);

// Raises this process's soft limit on open descriptors (often 1024) to the
// hard limit, for programs that hold thousands of connections at once.
// Returns the limit now in force.
long raise_descriptor_limit();

// Lowers this process's soft limit on open descriptors to `limit`, if it is
// higher. From then on every new descriptor is numbered below `limit`, or the
// call that would make it (socket(), accept(), pipe()...) fails with EMFILE;
// descriptors already open keep their numbers.
void lower_descriptor_limit(int limit);

// Prints "connection from H:P closed" when it is destroyed. A task that
// keeps one (a member, or a local of a coroutine) says so however it ends: by
// finishing, or destroyed at a stop signal, because destroying a coroutine's
// frame runs the destructors of the locals alive in it. Moving one hands the
// line over: only the last owner prints it.
class ClosedLine {
 public:
  explicit ClosedLine(std::string name) : name_(std::move(name)) {}
  ClosedLine(ClosedLine&& other) noexcept : name_(std::exchange(other.name_, {})) {}
  ClosedLine& operator=(ClosedLine&&) = delete;
  ~ClosedLine();

 private:
  std::string name_;
};

// Prints the contract's first line, "listening on H:P", and flushes it so a
// test (or a pipe) sees it at once.
void print_listening(int listener);

}  // namespace common
