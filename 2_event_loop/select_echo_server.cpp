// Lesson 2: one thread serves every client at once, with select().
//
// Run it:   scripts/run.sh 2 --trace
// Connect:  nc 127.0.0.1 5000                (from two or three terminals at once)
// Observe:  every nc gets its lines back at once, whoever came first. The
//           trace shows each turn of the loop: what it asks select() to
//           watch, and what came back ready.

#include <sys/select.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <iostream>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <system_error>
#include <utility>

#include "2_event_loop/echo_connection.hpp"
#include "common/command_line.hpp"
#include "common/net.hpp"
#include "common/stop_signal.hpp"
#include "observer/observer.hpp"

namespace {

using lesson2::Connection;

// For --trace: the descriptors in an fd_set. The observer prints it only when
// tracing is on, so otherwise it costs nothing.
struct DescriptorList {
  const fd_set& set;
  int max_fd;

  friend std::ostream& operator<<(std::ostream& out, const DescriptorList& list) {
    out << '{';
    const char* separator = "";
    for (int fd = 0; fd <= list.max_fd; ++fd) {
      if (FD_ISSET(fd, &list.set)) out << std::exchange(separator, " ") << fd;
    }
    return out << '}';
  }
};

class EchoServer {
 public:
  explicit EchoServer(common::FileDescriptor listener) : listener_(std::move(listener)) {}

  void event_loop();

 private:
  void accept_connection();
  void send_message(Connection& connection, bool readable, bool writable);
  void close_connection(int fd);

  common::FileDescriptor listener_;
  std::map<int, Connection> connections_;  // by descriptor
};

// Python: client_socket, addr = server_socket.accept(); TO_MONITOR.append(client_socket)
// Out of descriptors, common::accept_client() turns the client away.
void EchoServer::accept_connection() {
  std::optional<common::FileDescriptor> client = common::accept_client(listener_.get());
  if (!client) return;
  const int fd = client->get();
  Connection& connection = connections_.try_emplace(fd, std::move(*client)).first->second;
  std::cout << "connection from " << connection.name() << std::endl;
}

// Python: send_message(client_socket)
void EchoServer::send_message(Connection& connection, bool readable, bool writable) {
  if (!connection.serve(readable, writable)) close_connection(connection.fd());
}

// Python: client_socket.close(); TO_MONITOR.remove(client_socket)
//         print(f"Connection with {CONNECTIONS[client_socket]} closed.")
void EchoServer::close_connection(int fd) {
  const auto found = connections_.find(fd);
  std::cout << "connection from " << found->second.name() << " closed" << std::endl;
  observer::close(fd, "closing");
  connections_.erase(found);  // the FileDescriptor closes the socket
}

// Python: while True: ready_to_read, _, _ = select(TO_MONITOR, [], [])
// The course waits to read only, and its send() ignores how much the socket
// took. We also wait to write a client whose echo did not fit at once.
void EchoServer::event_loop() {
  const int stop = common::stop_fd();
  while (true) {
    // In: what we wait for. Out: what is ready. select() overwrites the sets,
    // so every turn builds them again from the state of every connection.
    fd_set read_set;
    fd_set write_set;
    FD_ZERO(&read_set);
    FD_ZERO(&write_set);
    FD_SET(stop, &read_set);
    FD_SET(listener_.get(), &read_set);
    int max_fd = std::max(stop, listener_.get());
    for (const auto& [fd, connection] : connections_) {
      if (connection.wants_read()) FD_SET(fd, &read_set);
      if (connection.wants_write()) FD_SET(fd, &write_set);
      max_fd = std::max(max_fd, fd);
    }
    observer::wait("select(): waiting to read ", DescriptorList{read_set, max_fd}, " or write ",
                   DescriptorList{write_set, max_fd});

    const int ready = select(max_fd + 1, &read_set, &write_set, nullptr, nullptr);
    if (ready < 0 && errno == EINTR) continue;  // a stop signal also wrote to the stop pipe
    if (ready < 0) throw std::system_error(errno, std::generic_category(), "select");
    observer::note("select(): ready to read ", DescriptorList{read_set, max_fd}, ", to write ",
                   DescriptorList{write_set, max_fd});

    if (FD_ISSET(stop, &read_set)) break;
    if (FD_ISSET(listener_.get(), &read_set)) accept_connection();
    for (auto next = connections_.begin(); next != connections_.end();) {
      auto& [fd, connection] = *next++;  // step on first: serving may close this one
      send_message(connection, FD_ISSET(fd, &read_set), FD_ISSET(fd, &write_set));
    }
  }
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
    // select() watches descriptors below FD_SETSIZE (1024) only: FD_SET() on
    // another writes outside the set. Ours must be below it, and we ask the
    // kernel for no other: past it, clients are turned away (EMFILE).
    if (const int highest = std::max(common::stop_fd(), listener.get()); highest >= FD_SETSIZE) {
      throw std::system_error(std::make_error_code(std::errc::too_many_files_open),
                              "select() cannot watch descriptor " + std::to_string(highest));
    }
    common::lower_descriptor_limit(FD_SETSIZE);
    common::print_listening(listener.get());
    EchoServer server(std::move(listener));
    server.event_loop();
  } catch (const std::exception& error) {
    std::cerr << "select_echo_server: " << error.what() << '\n';
    return 1;
  }
  return 0;
}
