// Lesson 3: a Selector waits, callbacks do the work.
//
// Run it:   scripts/run.sh 3 --trace         then with --backend poll, to compare
// Connect:  nc 127.0.0.1 5000                (from two or three terminals at once)
// Observe:  the same echo as lesson 2. The trace shows each turn of the loop:
//           the Selector says which descriptor is ready and runs the
//           callback registered for it.

#include <exception>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
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

class EchoServer {
 public:
  EchoServer(common::FileDescriptor listener, lesson3::Selector& selector)
      : listener_(std::move(listener)), selector_(selector) {}

  void event_loop();

 private:
  void accept_connection();
  void send_message(Connection& connection, bool readable, bool writable);
  void close_connection(int fd);

  common::FileDescriptor listener_;
  std::map<int, Connection> connections_;  // by descriptor
  lesson3::Selector& selector_;
  bool stopping_ = false;
};

// Python: client_socket, addr = server_socket.accept(); SELECTOR.register(
//         fileobj=client_socket, events=selectors.EVENT_READ, data=send_message)
void EchoServer::accept_connection() {
  std::optional<common::FileDescriptor> client = common::accept_client(listener_.get());
  if (!client) return;
  const int fd = client->get();
  Connection& connection = connections_.try_emplace(fd, std::move(*client)).first->second;
  std::cout << "connection from " << connection.name() << std::endl;
  // The callback keeps a reference to the Connection: the map never moves it.
  selector_.register_fd(fd, event_read, [this, &connection](EventMask ready) {
    send_message(connection, ready & event_read, ready & event_write);
  });
}

// Python: send_message(client_socket)
// Then it tells the Selector what the client waits for next; modify() asks
// the kernel only when that changed.
void EchoServer::send_message(Connection& connection, bool readable, bool writable) {
  if (!connection.serve(readable, writable)) {
    close_connection(connection.fd());
    return;
  }
  selector_.modify(connection.fd(), connection.wants_write() ? event_write : event_read);
}

// Python: SELECTOR.unregister(client_socket); client_socket.close()
//         print(f"Connection with {CONNECTIONS[client_socket]} closed.")
void EchoServer::close_connection(int fd) {
  const auto found = connections_.find(fd);
  std::cout << "connection from " << found->second.name() << " closed" << std::endl;
  selector_.unregister(fd);   // before close: the descriptor's number may be reused at once
  connections_.erase(found);  // the FileDescriptor closes the socket
}

// Python: while True: events = SELECTOR.select()
//                     for key, _ in events: callback = key.data; callback(key.fileobj)
void EchoServer::event_loop() {
  selector_.register_fd(common::stop_fd(), event_read, [this](EventMask) { stopping_ = true; });
  selector_.register_fd(listener_.get(), event_read, [this](EventMask) { accept_connection(); });
  while (!stopping_) {
    for (const lesson3::ReadyEvent& event : selector_.select(std::nullopt)) {
      if (stopping_) break;
      selector_.dispatch(event);
    }
  }
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
  command_line.option("--backend", "how the Selector waits: epoll or poll", backend_name,
                      [](std::string_view name) { return name == "epoll" || name == "poll"; });
  command_line.parse(argc, argv);
  try {
    common::install_stop_handlers();
    common::FileDescriptor listener = common::listen_tcp(options.host, options.port);
    // The listener may be reported ready for a client that gives up before
    // we accept(); a blocking accept() would then hang the whole loop.
    common::set_nonblocking(listener.get());
    common::print_listening(listener.get());
    const std::unique_ptr<lesson3::Selector> selector =
        lesson3::make_selector(lesson3::parse_backend(backend_name));
    EchoServer server(std::move(listener), *selector);
    server.event_loop();
  } catch (const std::exception& error) {
    std::cerr << "callback_echo_server: " << error.what() << '\n';
    return 1;
  }
  return 0;
}
