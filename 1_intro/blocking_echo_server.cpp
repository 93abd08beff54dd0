// Lesson 1: a blocking echo server, one client at a time.
//
// Run it:   scripts/run.sh 1                 (add --trace to watch it block)
// Connect:  nc 127.0.0.1 5000                (then again from a second terminal)
// Observe:  the first nc gets every line back. The second connects, but
//           nothing it types comes back until the first one leaves.

#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <exception>
#include <iostream>
#include <span>
#include <string>
#include <system_error>
#include <thread>

#include "common/command_line.hpp"
#include "common/net.hpp"
#include "common/stop_signal.hpp"
#include "observer/observer.hpp"

namespace {

// send() may take fewer bytes than offered; keep offering the rest. (The
// course's send() ignores that.) Returns false when the client is gone.
bool send_all(int connection, std::span<const char> bytes) {
  while (!bytes.empty()) {
    const ssize_t sent = send(connection, bytes.data(), bytes.size(), 0);
    if (sent < 0 && errno == EINTR) continue;
    if (sent < 0) return false;  // EPIPE, ECONNRESET: the client left (or we stop)
    bytes = bytes.subspan(static_cast<std::size_t>(sent));
  }
  return true;
}

// Python: while True: request = client_socket.recv(4096)
//                     if not request: break
//                     else: client_socket.send(response)
// Our response is the request itself, and we read up to 1 KiB at a time
// (common::receive_buffer_size says why).
void client(int connection) {
  const common::ShutDownOnStop stop_ends_recv(connection);
  std::array<char, common::receive_buffer_size> buffer;
  while (true) {
    observer::wait("blocking in recv() on fd ", connection, "; nobody else is served meanwhile");
    const ssize_t received = recv(connection, buffer.data(), buffer.size(), 0);
    if (received < 0 && errno == EINTR) continue;
    if (received <= 0) return;  // 0: the client closed (or we stop); < 0: a reset
    observer::read(connection, "received ", received, " bytes, sending them back");
    if (!send_all(connection, std::span(buffer).first(static_cast<std::size_t>(received)))) return;
    observer::write(connection, "sent them back");
  }
}

// Python: while True: client_socket, addr = server_socket.accept()
//                     ...serve it until it leaves...; client_socket.close()
void server(int listener) {
  while (true) {
    observer::wait("blocking in accept() on fd ", listener);
    common::FileDescriptor connection(accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
    if (!connection) {
      if (common::stop_requested()) return;  // a stop shut the listener down
      if (errno == EINTR || errno == ECONNABORTED) continue;
      // Out of descriptors: a blocking server has nothing else to do but
      // wait for one to be freed. (Lesson 2 turns the client away instead:
      // its loop has other clients to serve.)
      if (errno == EMFILE || errno == ENFILE) {
        std::cerr << "accept: out of file descriptors, retrying shortly\n";
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      throw std::system_error(errno, std::generic_category(), "accept");
    }
    const std::string name = common::peer_name(connection.get());
    std::cout << "connection from " << name << std::endl;
    observer::open(connection.get(), "accepted; serving only this client until it leaves");
    client(connection.get());
    observer::close(connection.get(), "closing");
    std::cout << "connection from " << name << " closed" << std::endl;
  }
}

}  // namespace

int main(int argc, char** argv) {
  common::ServerOptions options;
  common::CommandLine command_line("blocking_echo_server",
                                   "Lesson 1: echoes every byte back, one client at a time.");
  common::add_server_options(command_line, options);
  command_line.parse(argc, argv);
  observer::name_thread("server");  // its thread runs no event loop
  try {
    common::install_stop_handlers();
    const common::FileDescriptor listener = common::listen_tcp(options.host, options.port);
    const common::ShutDownOnStop stop_ends_accept(listener.get());
    common::print_listening(listener.get());
    server(listener.get());
  } catch (const std::exception& error) {
    std::cerr << "blocking_echo_server: " << error.what() << '\n';
    return 1;
  }
  return 0;
}
