#include "common/stop_signal.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <system_error>

namespace common {

namespace {

volatile std::sig_atomic_t stop_flag = 0;
volatile std::sig_atomic_t blocking_socket = -1;  // named by the innermost ShutDownOnStop
int self_pipe[2] = {-1, -1};

// A signal handler may only touch sig_atomic_t flags and call
// async-signal-safe functions such as write() and shutdown(); and it must keep
// errno intact for the code it interrupted.
void on_stop_signal(int) {
  const int saved_errno = errno;
  stop_flag = 1;
  if (const int fd = blocking_socket; fd >= 0) ::shutdown(fd, SHUT_RDWR);
  const char byte = 1;
  [[maybe_unused]] const auto written = ::write(self_pipe[1], &byte, 1);
  errno = saved_errno;
}

// Names the socket first, then looks at the flag: a stop that comes between
// the two finds the socket named, and one that came before is seen here.
void name_blocking_socket(int fd) {
  blocking_socket = fd;
  if (stop_flag != 0 && fd >= 0) ::shutdown(fd, SHUT_RDWR);
}

}  // namespace

void install_stop_handlers() {
  // The byte is never read back: the pipe stays readable, so every loop that
  // looks at it, however late, sees the stop.
  if (self_pipe[0] < 0 && ::pipe2(self_pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
    throw std::system_error(errno, std::generic_category(), "pipe2");
  }
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: blocking calls return EINTR
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  // Whoever starts a program with SIGHUP ignored (nohup) wants it to outlive
  // its terminal.
  struct sigaction hangup {};
  if (sigaction(SIGHUP, nullptr, &hangup) == 0 && hangup.sa_handler != SIG_IGN) {
    sigaction(SIGHUP, &action, nullptr);
  }
  // Writing to a closed connection then fails with EPIPE, which we handle.
  std::signal(SIGPIPE, SIG_IGN);
}

bool stop_requested() {
  return stop_flag != 0;
}

int stop_fd() {
  return self_pipe[0];
}

ShutDownOnStop::ShutDownOnStop(int fd) : previous_(blocking_socket) {
  name_blocking_socket(fd);
}

ShutDownOnStop::~ShutDownOnStop() {
  name_blocking_socket(previous_);
}

}  // namespace common
