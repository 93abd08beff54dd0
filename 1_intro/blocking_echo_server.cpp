// Lesson 1: a blocking echo server.
//
// Run it:      scripts/run.sh 1
// Connect:     nc 127.0.0.1 5000      (then again from a second terminal)
// Observe:     the first nc gets every line echoed back. The second one
//              connects (the kernel queues it), but nothing it types comes
//              back until the first nc leaves. Then all its lines arrive.
// Why:         serve_client() blocks in recv() on one client. While it waits
//              there, nobody calls accept() or recv() for anyone else.
// Next lesson: select() tells us which sockets are ready, so one thread can
//              wait on all of them at once.

#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <iostream>
#include <span>
#include <system_error>
#include <thread>

#include "common/command_line.hpp"
#include "common/net.hpp"
#include "common/stop_signal.hpp"

namespace {

// send() may take fewer bytes than offered; keep offering the rest.
// Returns false when the client is gone or we are asked to stop.
bool send_all(int client, std::span<const char> bytes) {
  while (!bytes.empty()) {
    const ssize_t sent = send(client, bytes.data(), bytes.size(), 0);
    if (sent < 0 && errno == EINTR && !common::stop_requested()) continue;
    if (sent < 0) return false;  // EPIPE, ECONNRESET: the client left
    bytes = bytes.subspan(static_cast<std::size_t>(sent));
  }
  return true;
}

// Python: while True: data = conn.recv(1024); if not data: break; conn.send(data)
void serve_client(int client, const common::Tracer& trace) {
  char buffer[4096];
  while (true) {
    trace.wait("blocking in recv() on fd ", client, "; nobody else is served meanwhile");
    const ssize_t received = recv(client, buffer, sizeof buffer, 0);
    if (received < 0 && errno == EINTR && !common::stop_requested()) continue;
    if (received <= 0) return;  // 0: the client closed; < 0: reset, or we stop
    trace.read(client, "received ", received, " bytes, sending them back");
    if (!send_all(client, {buffer, static_cast<std::size_t>(received)})) return;
    trace.write(client, "sent them back");
  }
}

// Python: while True: conn, addr = sock.accept(); handle(conn)
//
// A stop signal interrupts accept() or recv() with EINTR. One that lands just
// before the call interrupts nothing, so we first name the socket we are about
// to block on: the signal handler shuts it down, and the call returns at once.
// Lessons 2-6 need no such care: they watch the stop pipe with their sockets.
void run_server(int listener, const common::Tracer& trace) {
  while (true) {
    common::set_blocking_socket(listener);
    if (common::stop_requested()) return;
    trace.wait("blocking in accept() on fd ", listener);
    common::FileDescriptor client(accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
    if (!client) {
      if (common::stop_requested()) return;
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE) {
        std::cerr << "accept: out of file descriptors, retrying shortly\n";
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      throw std::system_error(errno, std::generic_category(), "accept");
    }
    const std::string name = common::peer_name(client.get());
    std::cout << "connection from " << name << std::endl;
    trace.open(client.get(), "accepted; serving only this client until it leaves");
    common::set_blocking_socket(client.get());
    if (!common::stop_requested()) serve_client(client.get(), trace);
    common::set_blocking_socket(-1);  // client closes below, and its number may be reused
    trace.close(client.get(), "closing");
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
  try {
    const common::Tracer trace(options.trace, options.timeline);  // creates --timeline's file
    common::install_stop_handlers();
    const common::FileDescriptor listener = common::listen_tcp(options.host, options.port);
    common::print_listening(listener.get());
    run_server(listener.get(), trace);
    common::set_blocking_socket(-1);  // the listener closes next
  } catch (const std::exception& error) {
    std::cerr << "blocking_echo_server: " << error.what() << '\n';
    return 1;
  }
  return 0;
}
