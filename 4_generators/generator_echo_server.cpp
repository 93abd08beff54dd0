// Lesson 4: generators written by hand, run by a scheduler.
//
// Run it:   scripts/run.sh 4 --trace
// Connect:  nc 127.0.0.1 5000      (from several terminals at once)
// Watch:    every client is echoed at once. The trace shows which task runs,
//           what it waits for next, and which socket became ready to wake it.
//           As in the course, a task waits to write before it sends.

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
#include "common/command_line.hpp"
#include "common/net.hpp"
#include "common/stop_signal.hpp"

namespace {

using lesson4::Scheduler;
using lesson4::Wait;

// Python: def client(client_socket): while True: yield ("read", client_socket);
//         request = client_socket.recv(4096); if not request: break; and for
//         each character r of its greeting: yield ("write", client_socket);
//         client_socket.send(r.encode()).
// We read up to 1 KiB (common::receive_buffer_size says why), and wait to
// write before each send() of what is unsent, not before each character;
// the Scheduler lets a first wait to write through at once.
class ClientTask {
 public:
  ClientTask(common::FileDescriptor connection, std::string name)
      : connection_(std::move(connection)), closed_line_(std::move(name)) {}

  // Python: next(task). The switch jumps to where the previous call stopped.
  std::optional<Wait> next() {
    const int fd = connection_.get();
    switch (state_) {
      case State::created:
        break;

      case State::waiting_to_read: {  // resumes after yield ("read", client_socket)
        const std::optional<std::size_t> received = common::receive_some(fd, buffer_);
        if (!received) return finish();
        received_ = *received;
        sent_back_ = 0;
        break;
      }

      case State::waiting_to_write: {  // resumes after yield ("write", client_socket)
        const std::span unsent = std::span(buffer_).first(received_).subspan(sent_back_);
        const std::optional<std::size_t> sent = common::send_some(fd, unsent);
        if (!sent) return finish();
        sent_back_ += *sent;
        break;
      }

      case State::finished:
        return std::nullopt;  // Python: a finished generator raises StopIteration again
    }
    // Wait to write the rest of the echo, if any is left; else to read more.
    if (sent_back_ < received_) {
      state_ = State::waiting_to_write;
      return lesson4::wait_to_write(fd);  // Python: yield ("write", client_socket)
    }
    state_ = State::waiting_to_read;
    return lesson4::wait_to_read(fd);  // Python: yield ("read", client_socket)
  }

 private:
  enum class State { created, waiting_to_read, waiting_to_write, finished };

  // The scheduler destroys a finished task, and every task at Ctrl-C: then
  // closed_line_ says "closed", and the socket closes.
  std::optional<Wait> finish() {
    state_ = State::finished;
    return std::nullopt;
  }

  State state_ = State::created;
  common::FileDescriptor connection_;
  common::ClosedLine closed_line_;
  std::array<char, common::receive_buffer_size> buffer_;
  std::size_t received_ = 0;   // bytes in buffer_, of which
  std::size_t sent_back_ = 0;  // so many have been sent back
};

// Python: def server(): ... while True: yield ("read", server_socket);
//         client_socket, addr = server_socket.accept(); ...;
//         TASKS.append(client(client_socket))
class ServerTask {
 public:
  ServerTask(common::FileDescriptor listener, Scheduler& scheduler)
      : listener_(std::move(listener)), scheduler_(scheduler) {}

  std::optional<Wait> next() {
    if (state_ == State::waiting_to_read) {  // resumes after yield ("read", server_socket)
      if (std::optional connection = common::accept_client(listener_.get())) {
        std::string name = common::peer_name(connection->get());
        std::cout << "connection from " << name << std::endl;
        scheduler_.spawn(ClientTask(std::move(*connection), std::move(name)));
      }
    }
    state_ = State::waiting_to_read;
    return lesson4::wait_to_read(listener_.get());  // Python: yield ("read", server_socket)
  }

 private:
  enum class State { created, waiting_to_read };

  State state_ = State::created;
  common::FileDescriptor listener_;
  Scheduler& scheduler_;
};

}  // namespace

int main(int argc, char** argv) {
  common::ServerOptions options;
  common::CommandLine command_line(
      "generator_echo_server",
      "Lesson 4: echoes every byte back; each client is a hand-written generator.");
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
    scheduler.spawn(ServerTask(std::move(listener), scheduler));
    scheduler.run_until_readable(common::stop_fd());
  } catch (const std::exception& error) {
    std::cerr << "generator_echo_server: " << error.what() << '\n';
    return 1;
  }
  return 0;
}
