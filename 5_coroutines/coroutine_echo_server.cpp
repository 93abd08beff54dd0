// Lesson 5: lesson 4's echo server again, with the compiler writing the
// generators.
//
// Run it:   scripts/run.sh coroutine_echo_server --trace
// Connect:  nc 127.0.0.1 5000      (from several terminals at once)
// Watch:    what lesson 4 showed: the same scheduler runs the same tasks. One
//           line moves: a client's "closed" comes as client() returns, before
//           the scheduler says that the task finished.

#include <array>
#include <cstddef>
#include <exception>
#include <iostream>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include "3_async_with_callbacks/selector.hpp"
#include "4_generators/scheduler.hpp"
#include "5_coroutines/generator.hpp"
#include "common/command_line.hpp"
#include "common/net.hpp"
#include "common/stop_signal.hpp"

namespace {

using lesson4::Scheduler;
using lesson4::Wait;
using lesson5::Generator;

// Python: def client(client_socket): while True: yield ("read", client_socket);
//         request = client_socket.recv(4096); if not request: break; and for
//         each character r of its greeting: yield ("write", client_socket);
//         client_socket.send(r.encode()).
// We read up to 1 KiB (common::receive_buffer_size says why), and wait to
// write before each send() of what is unsent, not before each character;
// the Scheduler lets a first wait to write through at once.
Generator<Wait> client(common::FileDescriptor connection, std::string name) {
  // When the frame goes, at the end or destroyed at Ctrl-C, closed_line says
  // "closed", and the socket closes.
  const common::ClosedLine closed_line(std::move(name));
  const int fd = connection.get();
  std::array<char, common::receive_buffer_size> buffer;
  while (true) {
    co_yield lesson4::wait_to_read(fd);  // Python: yield ("read", client_socket)
    const std::optional<std::size_t> received = common::receive_some(fd, buffer);
    if (!received) co_return;
    for (std::size_t sent_back = 0; sent_back < *received;) {
      co_yield lesson4::wait_to_write(fd);  // Python: yield ("write", client_socket)
      const std::span unsent = std::span(buffer).first(*received).subspan(sent_back);
      const std::optional<std::size_t> sent = common::send_some(fd, unsent);
      if (!sent) co_return;
      sent_back += *sent;
    }
  }
}

// Python: def server(): ... while True: yield ("read", server_socket);
//         client_socket, addr = server_socket.accept(); ...;
//         TASKS.append(client(client_socket))
Generator<Wait> server(common::FileDescriptor listener, Scheduler& scheduler) {
  while (true) {
    co_yield lesson4::wait_to_read(listener.get());  // Python: yield ("read", server_socket)
    if (std::optional connection = common::accept_client(listener.get())) {
      std::string name = common::peer_name(connection->get());
      std::cout << "connection from " << name << std::endl;
      scheduler.spawn(client(std::move(*connection), std::move(name)));
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  common::ServerOptions options;
  common::CommandLine command_line("coroutine_echo_server",
                                   "Lesson 5: echoes every byte back; each client is a coroutine.");
  common::add_server_options(command_line, options);
  command_line.parse(argc, argv);
  try {
    common::install_stop_handlers();
    common::FileDescriptor listener = common::listen_tcp(options.host, options.port);
    // The listener may be reported ready for a client that gives up before
    // we accept(); a blocking accept() would then hang the whole loop.
    common::set_nonblocking(listener.get());
    common::print_listening(listener.get());
    const std::unique_ptr<lesson3::Selector> selector =
        lesson3::make_selector(lesson3::Backend::epoll);
    Scheduler scheduler(*selector);
    scheduler.spawn(server(std::move(listener), scheduler));
    scheduler.run_until_readable(common::stop_fd());
  } catch (const std::exception& error) {
    std::cerr << "coroutine_echo_server: " << error.what() << '\n';
    return 1;
  }
  return 0;
}
