// Lesson 6: the echo server again, written with co_await on our runtime.
//
// Run it:      scripts/run.sh async_echo_server --trace
// Connect:     nc 127.0.0.1 5000      (from as many terminals as you like)
// Observe:     every client is echoed at once, as in lessons 2 to 5. With
//              --trace, watch the loop wait, see which descriptor is ready,
//              and resume the task that waits on it.
// Why:         set it beside lesson 1 (diff 1_intro/blocking_echo_server.cpp
//              this file): serve_client() and run_server() have the same
//              shape, a plain loop of "receive, then send it all back". Where
//              lesson 1 blocked the whole thread, `co_await` suspends only
//              this task, and the event loop runs the others meanwhile.
// Since lesson 5: no hand-written scheduler and no state machine per client;
//              a client's state is simply the locals of its coroutine.
//
// Memory stays bounded per client: a task does not read again until all it
// read has been sent, so a client that does not read its echo stops being
// read (backpressure). Each client's coroutine frame holds its 1 KiB buffer
// (Python's recv(1024)), which keeps ten thousand idle clients cheap. Running
// out of descriptors is lesson6::accept()'s business: it says so and rests the
// listener for a moment, as asyncio's servers do.

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

// Python: while True: data = await loop.sock_recv(conn, 1024); if not data: break;
//         await loop.sock_sendall(conn, data)
lesson6::Task<void> serve_client(lesson6::Socket client, common::Tracer trace) {
  const std::string name = common::peer_name(client.get());
  std::cout << "connection from " << name << std::endl;
  // Says "closed" when the frame goes: at the end, or destroyed at Ctrl-C.
  const common::ClosedLine closed_line(name);
  char buffer[1024];
  try {
    while (true) {
      const std::size_t received = co_await lesson6::read_some(client, buffer);
      if (received == 0) break;  // the client closed
      trace("received ", received, " bytes from fd ", client.get(), ", sending them back");
      co_await lesson6::write_all(client, std::span(buffer).first(received));
    }
  } catch (const std::system_error& error) {
    trace("fd ", client.get(), ": ", error.what());  // a reset or a broken pipe: this client only
  }
}

// Python: while True: conn, addr = await loop.sock_accept(sock); loop.create_task(handle(conn))
lesson6::Task<void> run_server(lesson6::Socket listener, common::Tracer trace) {
  while (true) {
    lesson6::Socket client = co_await lesson6::accept(listener);
    trace("accepted fd ", client.get(), ": spawning a task to serve it");
    lesson6::spawn(serve_client(std::move(client), trace));
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
    common::set_nonblocking(listener.get());
    common::print_listening(listener.get());
    const common::Tracer trace(options.trace, options.timeline);
    lesson6::run(run_server(std::move(listener), trace), trace);
  } catch (const lesson6::Stopped&) {
    return 0;  // SIGINT or SIGTERM: every client's task was destroyed, its socket closed
  } catch (const std::exception& error) {
    std::cerr << "async_echo_server: " << error.what() << '\n';
    return 1;
  }
  return 0;
}
