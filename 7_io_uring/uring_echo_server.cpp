// Lesson 7, beyond the course: lesson 6's echo server on a loop built on
// io_uring, where the kernel makes each call and says when it is done.
//
// Run it:   scripts/run.sh 7 --trace
// Connect:  nc 127.0.0.1 5000      (from as many terminals as you like)
// Watch:    every client is echoed at once, as in lesson 6. With --trace, each
//           turn submits what the tasks asked for, and one wait brings back
//           the completions, each resuming its task.

#include <array>
#include <cstddef>
#include <exception>
#include <iostream>
#include <span>
#include <string>
#include <system_error>
#include <utility>

#include "7_io_uring/runtime/runtime.hpp"
#include "common/command_line.hpp"
#include "common/net.hpp"
#include "common/stop_signal.hpp"

namespace {

// Python: def client(client_socket): while True: yield ("read", client_socket);
//         request = client_socket.recv(4096); if not request: break; and for
//         each character r of its greeting: yield ("write", client_socket);
//         client_socket.send(r.encode()).
// Each "yield, then call" of lesson 4 is one co_await here.
lesson7::Task<void> client(lesson7::Socket connection, std::string name) {
  // When the frame goes, at the end or destroyed at Ctrl-C, closed_line says
  // "closed", and the socket closes.
  const common::ClosedLine closed_line(std::move(name));
  std::array<char, common::receive_buffer_size> buffer;
  try {
    while (true) {
      const std::size_t received = co_await lesson7::read_some(connection, buffer);
      if (received == 0) co_return;  // the client closed
      // No read until all is sent back: a client that never reads is not
      // read either (backpressure).
      co_await lesson7::write_all(connection, std::span(buffer).first(received));
    }
  } catch (const std::system_error&) {
    // A reset or a broken pipe ends this client only.
  }
}

// Python: def server(): ... while True: yield ("read", server_socket);
//         client_socket, addr = server_socket.accept(); ...;
//         TASKS.append(client(client_socket))
lesson7::Task<void> server(lesson7::Socket listener) {
  while (true) {
    lesson7::Socket connection = co_await lesson7::accept(listener);
    std::string name = common::peer_name(connection.get());
    std::cout << "connection from " << name << std::endl;
    lesson7::spawn(client(std::move(connection), std::move(name)));
  }
}

}  // namespace

int main(int argc, char** argv) {
  common::ServerOptions options;
  common::CommandLine command_line(
      "uring_echo_server", "Lesson 7: echoes every byte back to every client, on io_uring.");
  common::add_server_options(command_line, options);
  command_line.parse(argc, argv);
  try {
    common::install_stop_handlers();
    // Made before listening, unlike lesson 6's: where io_uring is refused, it
    // says so, and the server never announces a port it will not serve.
    lesson7::EventLoop loop;
    lesson7::Socket listener(common::listen_tcp(options.host, options.port));
    // The listener may be reported ready for a client that gives up before
    // we accept(); a blocking accept() would then hang the whole loop.
    common::set_nonblocking(listener.get());
    common::print_listening(listener.get());
    loop.run_until_complete(server(std::move(listener)));
  } catch (const lesson7::Stopped&) {
    return 0;  // SIGINT, SIGTERM or SIGHUP: every client's task was destroyed, its socket closed
  } catch (const std::exception& error) {
    std::cerr << "uring_echo_server: " << error.what() << '\n';
    return 1;
  }
  return 0;
}
