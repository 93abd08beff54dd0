// Lesson 3: a Selector waits, callbacks do the work.
//
// Run it:      scripts/run.sh 3         (add --trace; --backend poll to compare)
// Connect:     nc 127.0.0.1 5000      (from two or three terminals at once)
// Observe:     the same echo as lesson 2. With --trace, each turn of the loop
//              says which descriptor became ready and that it runs the
//              callback registered for it; nothing else happens in the loop.
// Why:         each descriptor is registered once with the events it waits
//              for and the function to call when they come (Python's
//              selectors). run() only asks the Selector what is ready and
//              dispatches; accept_connection() and on_client_ready() know what
//              a listener and a client are.
// New since lesson 2: a Selector (selector.hpp) instead of fd_sets rebuilt
//              every turn. With epoll the kernel keeps the list: we tell it
//              only what changes (modify), a wait costs what is ready rather
//              than what is watched, and FD_SETSIZE no longer limits us.
// Shortcuts:   the code is now spread over callbacks, and what a client was
//              doing lives in its Connection rather than in the code. Lesson 4
//              brings back code that reads in order: generators.

#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "2_event_loop/echo_connection.hpp"
#include "3_async_with_callbacks/selector.hpp"
#include "common/command_line.hpp"
#include "common/net.hpp"
#include "common/stop_signal.hpp"

namespace {

using lesson2::Connection;
using lesson3::event_read;
using lesson3::event_write;
using lesson3::EventMask;
using Clock = std::chrono::steady_clock;

// How long the listener rests when accept() runs out of descriptors: long
// enough not to spin, short enough that a waiting client barely notices.
constexpr std::chrono::milliseconds accept_pause{100};

// What a connection waits for, in the Selector's terms.
EventMask interest(const Connection& connection) {
  return (connection.wants_read() ? event_read : 0) | (connection.wants_write() ? event_write : 0);
}

class EchoServer {
 public:
  EchoServer(common::FileDescriptor listener, lesson3::Backend backend, const common::Tracer& trace)
      : listener_(std::move(listener)), selector_(lesson3::make_selector(backend)), trace_(trace) {}

  void run();

 private:
  void accept_connection();
  void on_client_ready(Connection& connection, EventMask ready);
  bool serve_client(Connection& connection, bool readable, bool writable);
  void close_connection(int fd);

  common::FileDescriptor listener_;
  std::map<int, Connection> connections_;  // by descriptor
  std::array<char, 64 * 1024> buffer_{};   // one receive buffer, shared by every client
  std::optional<Clock::time_point> resume_accepting_at_;  // set while the listener rests
  std::unique_ptr<lesson3::Selector> selector_;
  bool stopping_ = false;
  common::Tracer trace_;
};

// Python: client_socket, addr = server_socket.accept()
//         selector.register(client_socket, selectors.EVENT_READ, send_message)
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
      selector_->modify(listener_.get(), 0);
    }
    // Anything else (EAGAIN, EINTR, ECONNABORTED...) concerns one attempt
    // only: the listener will be reported ready when there is another.
    return;
  }
  const int fd = client.get();
  Connection& connection = connections_.try_emplace(fd, std::move(client)).first->second;
  std::cout << "connection from " << connection.name() << std::endl;
  trace_.open(fd, "accepted; registering on_client_ready for read");
  // The callback captures two pointers, and the map never moves the
  // Connection it points to.
  selector_->register_fd(
      fd, event_read, [this, &connection](EventMask ready) { on_client_ready(connection, ready); });
}

// The callback of every client: serve it, then tell the Selector what it
// waits for next, which costs a system call only when that changed.
void EchoServer::on_client_ready(Connection& connection, EventMask ready) {
  const EventMask before = interest(connection);
  if (!serve_client(connection, ready & event_read, ready & event_write)) {
    close_connection(connection.fd());
    return;
  }
  const EventMask after = interest(connection);
  if (after == before) return;
  trace_.note(connection.fd(), "now waits to ", lesson3::describe(after));
  selector_->modify(connection.fd(), after);
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
  trace_.close(fd, "closing");
  selector_->unregister(fd);  // before close: the descriptor's number may be reused at once
  connections_.erase(found);  // the FileDescriptor closes the socket
}

// Python: while True:
//             for key, mask in selector.select(): callback = key.data; callback(key.fileobj)
void EchoServer::run() {
  selector_->register_fd(common::stop_fd(), event_read, [this](EventMask) { stopping_ = true; });
  selector_->register_fd(listener_.get(), event_read, [this](EventMask) { accept_connection(); });
  while (!stopping_) {
    if (resume_accepting_at_ && Clock::now() >= *resume_accepting_at_) {
      resume_accepting_at_.reset();
      selector_->modify(listener_.get(), event_read);
    }

    // No timeout, unless the listener rests: then until it may accept again.
    std::optional<std::chrono::milliseconds> rest;
    if (resume_accepting_at_) {
      rest = std::chrono::ceil<std::chrono::milliseconds>(*resume_accepting_at_ - Clock::now());
    }
    trace_.wait("select(): waiting for the stop pipe, ", connections_.size(), " clients",
                resume_accepting_at_ ? " (listener resting)" : " and the listener");

    for (const lesson3::ReadyEvent& event : selector_->select(rest)) {
      if (stopping_) break;
      trace_.run(event.fd, "ready to ", lesson3::describe(event.events), ", running its callback");
      selector_->dispatch(event);
    }
  }
  trace_("stopping: closing every connection");
  while (!connections_.empty())
    close_connection(connections_.begin()->first);
}

}  // namespace

int main(int argc, char** argv) {
  common::ServerOptions options;
  std::string backend_name = "epoll";
  common::CommandLine command_line(
      "callback_echo_server",
      "Lesson 3: echoes every byte back to every client at once, with a Selector and callbacks.");
  common::add_server_options(command_line, options);
  command_line.option("--backend", "how the Selector waits: epoll or poll", backend_name);
  command_line.parse(argc, argv);
  lesson3::Backend backend = lesson3::Backend::epoll;
  try {
    backend = lesson3::parse_backend(backend_name);
  } catch (const std::invalid_argument& error) {
    command_line.fail(error.what());
  }
  try {
    const common::Tracer trace(options.trace, options.timeline);  // creates --timeline's file
    common::install_stop_handlers();
    common::FileDescriptor listener = common::listen_tcp(options.host, options.port);
    // The listener may be reported ready for a client that gives up before
    // we accept(); a blocking accept() would then hang the whole loop.
    common::set_nonblocking(listener.get());
    common::print_listening(listener.get());
    EchoServer server(std::move(listener), backend, trace);
    server.run();
  } catch (const std::exception& error) {
    std::cerr << "callback_echo_server: " << error.what() << '\n';
    return 1;
  }
  return 0;
}
