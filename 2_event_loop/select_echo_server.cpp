// Lesson 2: one thread serves every client at once, with select().
//
// Run it:      scripts/run.sh 2                (add --trace to watch the loop)
// Connect:     nc 127.0.0.1 5000      (from two or three terminals at once)
// Observe:     every nc gets its lines back at once, whoever came first. With
//              --trace, each turn of the loop says what it asks select() to
//              watch, what came back ready, and what it did about it.
// Why:         nothing waits on one client any more. The thread waits in one
//              place, select(), which returns as soon as any watched socket can
//              be read or written without waiting; run() does just that, then
//              goes back to select().
// New since lesson 1: non-blocking sockets, one loop around select(), and a
//              Connection per client (echo_connection.hpp) that remembers what
//              lesson 1 kept on the call stack: where each client was.
// Shortcuts:   select() forgets its sets, so every turn rebuilds them and the
//              kernel scans them all; and it cannot watch a descriptor at or
//              beyond FD_SETSIZE (1024), so such a client is turned away.
//              Lesson 3's epoll keeps the list in the kernel and has no limit.

#include <sys/select.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <map>
#include <optional>
#include <ostream>
#include <system_error>
#include <utility>

#include "2_event_loop/echo_connection.hpp"
#include "common/command_line.hpp"
#include "common/net.hpp"
#include "common/stop_signal.hpp"

namespace {

using lesson2::Connection;
using Clock = std::chrono::steady_clock;

// How long the listener rests when accept() runs out of descriptors: long
// enough not to spin, short enough that a waiting client barely notices.
constexpr std::chrono::milliseconds accept_pause{100};

// For --trace: prints the descriptors in an fd_set, and costs nothing when
// tracing is off because the Tracer then prints nothing.
struct DescriptorList {
  const fd_set& set;
  int max_fd;
};

std::ostream& operator<<(std::ostream& out, const DescriptorList& list) {
  out << '{';
  const char* separator = "";
  for (int fd = 0; fd <= list.max_fd; ++fd) {
    if (FD_ISSET(fd, &list.set)) out << std::exchange(separator, " ") << fd;
  }
  return out << '}';
}

// select() takes its timeout as seconds plus microseconds.
timeval to_timeval(Clock::duration duration) {
  const auto microseconds = std::chrono::ceil<std::chrono::microseconds>(duration).count();
  return {.tv_sec = microseconds / 1'000'000, .tv_usec = microseconds % 1'000'000};
}

class EchoServer {
 public:
  EchoServer(common::FileDescriptor listener, const common::Tracer& trace)
      : listener_(std::move(listener)), trace_(trace) {}

  void run();

 private:
  void accept_connection();
  bool serve_client(Connection& connection, bool readable, bool writable);
  void close_connection(int fd);

  common::FileDescriptor listener_;
  std::map<int, Connection> connections_;  // by descriptor
  std::array<char, 64 * 1024> buffer_{};   // one receive buffer, shared by every client
  std::optional<Clock::time_point> resume_accepting_at_;  // set while the listener rests
  common::Tracer trace_;
};

// Python: client_socket, addr = server_socket.accept(); to_monitor.append(client_socket)
void EchoServer::accept_connection() {
  common::FileDescriptor client(
      accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
  if (!client) {
    // Out of descriptors or memory: the client stays queued in the kernel,
    // so the listener would be ready again at once. Rest it for a while.
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
      std::cerr << "accept: " << std::strerror(errno) << "; not accepting for "
                << accept_pause.count() << " ms\n";
      resume_accepting_at_ = Clock::now() + accept_pause;
    }
    // Anything else (EAGAIN, EINTR, ECONNABORTED...) concerns one attempt
    // only: the listener will be reported ready when there is another.
    return;
  }
  if (client.get() >= FD_SETSIZE) {
    std::cerr << "connection from " << common::peer_name(client.get()) << " refused: descriptor "
              << client.get() << " is beyond select()'s limit of " << FD_SETSIZE << '\n';
    return;  // the FileDescriptor closes it
  }
  const int fd = client.get();
  const Connection& connection = connections_.try_emplace(fd, std::move(client)).first->second;
  std::cout << "connection from " << connection.name() << std::endl;
  trace_("accepted fd ", fd);
}

// Python: send_message(client_socket)
// Returns false when the connection is finished and must be closed.
bool EchoServer::serve_client(Connection& connection, bool readable, bool writable) {
  if (writable && !connection.send_pending(trace_)) return false;
  if (readable && !connection.receive(buffer_, trace_)) return false;
  return true;
}

void EchoServer::close_connection(int fd) {
  const auto found = connections_.find(fd);
  std::cout << "connection from " << found->second.name() << " closed" << std::endl;
  trace_("closing fd ", fd);
  connections_.erase(found);  // the FileDescriptor closes the socket
}

// Python: while True: ready_to_read, _, _ = select(to_monitor, [], [])
void EchoServer::run() {
  const int stop = common::stop_fd();
  while (true) {
    if (resume_accepting_at_ && Clock::now() >= *resume_accepting_at_) resume_accepting_at_.reset();

    // In: what we wait for. Out: what is ready. select() overwrites the sets,
    // so every turn builds them again from the state of every connection.
    fd_set read_set;
    fd_set write_set;
    FD_ZERO(&read_set);
    FD_ZERO(&write_set);
    FD_SET(stop, &read_set);
    int max_fd = stop;
    if (!resume_accepting_at_) {
      FD_SET(listener_.get(), &read_set);
      max_fd = std::max(max_fd, listener_.get());
    }
    for (const auto& [fd, connection] : connections_) {
      if (connection.wants_read()) FD_SET(fd, &read_set);
      if (connection.wants_write()) FD_SET(fd, &write_set);
      max_fd = std::max(max_fd, fd);
    }
    // No timeout, unless the listener rests: then until it may accept again.
    timeval rest{};
    if (resume_accepting_at_) {
      rest = to_timeval(std::max(*resume_accepting_at_ - Clock::now(), Clock::duration::zero()));
    }
    trace_("select(): waiting to read ", DescriptorList{read_set, max_fd}, " or write ",
           DescriptorList{write_set, max_fd}, resume_accepting_at_ ? " (listener resting)" : "");

    const int ready =
        select(max_fd + 1, &read_set, &write_set, nullptr, resume_accepting_at_ ? &rest : nullptr);
    if (ready < 0 && errno == EINTR) continue;  // a stop signal also wrote to the stop pipe
    if (ready < 0) throw std::system_error(errno, std::generic_category(), "select");
    trace_("select(): ready to read ", DescriptorList{read_set, max_fd}, ", to write ",
           DescriptorList{write_set, max_fd});

    if (FD_ISSET(stop, &read_set)) break;
    if (FD_ISSET(listener_.get(), &read_set)) accept_connection();
    for (auto next = connections_.begin(); next != connections_.end();) {
      auto& [fd, connection] = *next++;  // step on first: serving may close this one
      if (!serve_client(connection, FD_ISSET(fd, &read_set), FD_ISSET(fd, &write_set))) {
        close_connection(fd);
      }
    }
  }
  trace_("stopping: closing every connection");
  while (!connections_.empty())
    close_connection(connections_.begin()->first);
}

}  // namespace

int main(int argc, char** argv) {
  common::ServerOptions options;
  common::CommandLine command_line(
      "select_echo_server",
      "Lesson 2: echoes every byte back to every client at once, with select().");
  common::add_server_options(command_line, options);
  command_line.parse(argc, argv);
  try {
    common::install_stop_handlers();
    common::FileDescriptor listener = common::listen_tcp(options.host, options.port);
    // The listener may be reported ready for a client that gives up before
    // we accept(); a blocking accept() would then hang the whole loop.
    common::set_nonblocking(listener.get());
    common::print_listening(listener.get());
    EchoServer server(std::move(listener), common::Tracer(options.trace, options.timeline));
    server.run();
  } catch (const std::exception& error) {
    std::cerr << "select_echo_server: " << error.what() << '\n';
    return 1;
  }
  return 0;
}
