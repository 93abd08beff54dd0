// Lesson 6: the echo server once more, written with co_await on our runtime.
//
// Run it:   scripts/run.sh async_echo_server --trace
// Connect:  nc 127.0.0.1 5000      (from as many terminals as you like)
// Watch:    every client is echoed at once, as in lessons 2 to 5. With --trace,
//           the loop waits on lesson 3's Selector, then resumes the task whose
//           socket is ready; each task waits for its socket again.

#include <array>
#include <cstddef>
#include <exception>
#include <iostream>
#include <span>
#include <string>
#include <system_error>
#include <utility>

#include "6_async_await/runtime/runtime.hpp"
#include "common/command_line.hpp"
#include "common/net.hpp"
#include "common/stop_signal.hpp"

namespace {

// Python: def client(client_socket): while True: yield ("read", client_socket);
//         request = client_socket.recv(4096); if not request: break; and for
//         each character r of its greeting: yield ("write", client_socket);
//         client_socket.send(r.encode()).
// Each "yield, then call" of lesson 4 is one co_await here.
lesson6::Task<void> client(lesson6::Socket connection, std::string name) {
  // When the frame goes, at the end or destroyed at Ctrl-C, closed_line says
  // "closed", and the socket closes.
  const common::ClosedLine closed_line(std::move(name));
  std::array<char, common::receive_buffer_size> buffer;
  try {
    while (true) {
      const std::size_t received = co_await lesson6::read_some(connection, buffer);
      if (received == 0) co_return;  // the client closed
      // No read until all is sent back: a client that never reads is not
      // read either (backpressure).
      co_await lesson6::write_all(connection, std::span(buffer).first(received));
    }
  } catch (const std::system_error&) {
    // A reset or a broken pipe ends this client only.
  }
}

// Python: def server(): ... while True: yield ("read", server_socket);
//         client_socket, addr = server_socket.accept(); ...;
//         TASKS.append(client(client_socket))
lesson6::Task<void> server(lesson6::Socket listener) {
  while (true) {
    lesson6::Socket connection = co_await lesson6::accept(listener);
    std::string name = common::peer_name(connection.get());
    std::cout << "connection from " << name << std::endl;
    lesson6::spawn(client(std::move(connection), std::move(name)));
  }
}

}  // namespace

int main(int argc, char** argv) {
  common::ServerOptions options;
  common::CommandLine command_line(
      "async_echo_server", "Lesson 6: echoes every byte back to every client, with co_await.");
  common::add_server_options(command_line, options);
  command_line.parse(argc, argv);
  try {
    common::install_stop_handlers();
    lesson6::Socket listener(common::listen_tcp(options.host, options.port));
    // The listener may be reported ready for a client that gives up before
    // we accept(); a blocking accept() would then hang the whole loop.
    common::set_nonblocking(listener.get());
    common::print_listening(listener.get());
    lesson6::run(server(std::move(listener)));
  } catch (const lesson6::Stopped&) {
    return 0;  // SIGINT, SIGTERM or SIGHUP: every client's task was destroyed, its socket closed
  } catch (const std::exception& error) {
    std::cerr << "async_echo_server: " << error.what() << '\n';
    return 1;
  }
  return 0;
}
