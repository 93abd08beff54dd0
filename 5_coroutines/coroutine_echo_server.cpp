// Lesson 5: the generator echo server again, with the compiler writing the
// generators.
//
// Run it:      scripts/run.sh coroutine_echo_server --trace
// Connect:     nc 127.0.0.1 5000      (from several terminals at once)
// Observe:     everything lesson 4 showed, line for line: the same scheduler
//              runs the same tasks, waiting for the same sockets.
// Why:         client() and server() are coroutines (generator.hpp). Each
//              co_yield hands the scheduler what the task waits for and
//              suspends; next() resumes it right after. The compiler keeps
//              the locals alive in the coroutine's frame and remembers which
//              co_yield it stopped at: the state_ and the members that lesson
//              4 wrote by hand.
// Since 4:     ClientTask and ServerTask became client() and server();
//              nothing else changed (diff the two files).
// Shortcuts:   as in lesson 4: one task per socket; epoll only.
// Next lesson: tasks that co_await sockets, timers and other tasks, on an
//              event loop of our own.

#include <cstddef>
#include <iostream>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "3_async_with_callbacks/selector.hpp"
#include "4_generators/scheduler.hpp"
#include "4_generators/socket_calls.hpp"
#include "5_coroutines/generator.hpp"
#include "common/command_line.hpp"
#include "common/net.hpp"
#include "common/stop_signal.hpp"

namespace {

using lesson4::Scheduler;
using lesson4::Wait;
using lesson4::wait_to_read;
using lesson4::wait_to_write;
using lesson5::Generator;

// Python: def client(client_socket): while True: yield ('read', ...);
// data = recv(); yield ('write', ...); send(data). Now it reads as it runs.
//
// Unlike the course, it sends right after reading, and waits to write only
// when send() did not take everything: a socket is nearly always writable,
// and a trip through select() for every message would double the work.
//
// The bytes just received sit in the buffer every task shares, and only until
// this task next waits, so what send() did not take moves to pending_output.
// While that is not empty the task stops reading: a client that sends without
// reading fills its own socket buffers, and we hold at most one buffer for it.
Generator<Wait> client(common::FileDescriptor connection, std::string name,
                       std::span<char> buffer) {
  const common::ClosedLine closed_line(name);  // says so when the frame goes
  const int fd = connection.get();
  while (true) {
    co_yield wait_to_read(fd);  // Python: yield ('read', client_socket)
    const std::optional<std::size_t> received = lesson4::receive_some(fd, buffer);
    if (!received) break;
    if (*received == 0) continue;
    std::optional<std::size_t> sent = common::send_some(fd, buffer.first(*received));
    if (!sent) break;
    if (*sent == *received) continue;
    std::string pending_output(buffer.data() + *sent, *received - *sent);
    while (!pending_output.empty()) {
      co_yield wait_to_write(fd);  // Python: yield ('write', client_socket)
      sent = common::send_some(fd, pending_output);
      if (!sent) break;
      pending_output.erase(0, *sent);
    }
    if (!sent) break;
  }
  // closed_line speaks here, as the body ends; the socket closes when the
  // scheduler destroys the finished generator. At Ctrl-C the scheduler
  // destroys the suspended generator, and both happen then.
}

// Python: def server(): while True: yield ('read', server_socket);
// accept(); tasks.append(client(client_socket)).
Generator<Wait> server(common::FileDescriptor listener, Scheduler& scheduler,
                       std::span<char> buffer) {
  while (true) {
    co_yield wait_to_read(listener.get());  // Python: yield ('read', server_socket)
    if (std::optional<common::FileDescriptor> connection = common::accept_client(listener.get())) {
      std::string name = common::peer_name(connection->get());
      std::cout << "connection from " << name << std::endl;
      scheduler.spawn(client(std::move(*connection), std::move(name), buffer));
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
    common::set_nonblocking(listener.get());
    common::print_listening(listener.get());
    // One receive buffer for every client: a task uses it between recv() and
    // send() and never across a wait, so a connection costs only its task.
    std::vector<char> buffer(64 * 1024);
    const std::unique_ptr<lesson3::Selector> selector =
        lesson3::make_selector(lesson3::Backend::epoll);
    Scheduler scheduler(*selector, common::Tracer(options.trace, options.timeline));
    scheduler.spawn(server(std::move(listener), scheduler, buffer));
    scheduler.run_until_readable(common::stop_fd());
  } catch (const std::exception& error) {
    std::cerr << "coroutine_echo_server: " << error.what() << '\n';
    return 1;
  }
  return 0;
}
