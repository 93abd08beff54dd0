// A reference for scripts/bench.sh, outside the lessons: the industry's
// choice, an echo server written with asio's C++20 coroutines, in the shape
// of asio's own coroutine echo example. Lessons 3 to 6 are measured against it;
// built again on asio's io_uring backend (asio_uring_echo_server), lesson 7.
//
// Run it:  build/bin/asio_echo_server --port 0
// It prints "listening on H:P" like the lessons' servers, so the same script
// drives it, but nothing per connection: it is a yardstick, not a lesson.
// One thread, one io_context, as in our lessons.

#include <asio.hpp>
#include <cstdint>
#include <exception>
#include <iostream>
#include <string>

#include "common/command_line.hpp"

namespace {

using asio::ip::tcp;

// Python: while data := await reader.read(n): writer.write(data)
asio::awaitable<void> echo(tcp::socket socket) {
  try {
    char data[1024];
    while (true) {
      const std::size_t length =
          co_await socket.async_read_some(asio::buffer(data), asio::use_awaitable);
      co_await asio::async_write(socket, asio::buffer(data, length), asio::use_awaitable);
    }
  } catch (const std::system_error&) {
    // End of stream or a reset: this connection is over, no other.
  }
}

asio::awaitable<void> listen(tcp::acceptor acceptor) {
  while (true) {
    tcp::socket socket = co_await acceptor.async_accept(asio::use_awaitable);
    asio::co_spawn(acceptor.get_executor(), echo(std::move(socket)), asio::detached);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  std::uint16_t port = 5000;
  common::CommandLine command_line("asio_echo_server",
                                   "A reference echo server written with asio's C++20 coroutines.");
  command_line.option("--host", "address to listen on", host);
  command_line.option("--port", "port to listen on; 0 picks a free one", port);
  command_line.parse(argc, argv);
  try {
    asio::io_context context(1);  // one thread: asio may skip its locks
    tcp::acceptor acceptor(context, {asio::ip::make_address(host), port});
    // Before "listening on": a SIGTERM from then on must find the handler.
    asio::signal_set stop_signals(context, SIGINT, SIGTERM);
    stop_signals.async_wait([&context](const std::error_code&, int) { context.stop(); });
    const tcp::endpoint local = acceptor.local_endpoint();
    std::cout << "listening on " << local.address().to_string() << ':' << local.port() << std::endl;
    // A failing accept loop (out of descriptors, say) ends the server with a message.
    asio::co_spawn(context, listen(std::move(acceptor)), [](std::exception_ptr error) {
      if (error) std::rethrow_exception(error);
    });
    context.run();
  } catch (const std::exception& error) {
    std::cerr << "asio_echo_server: " << error.what() << '\n';
    return 1;
  }
  return 0;
}
