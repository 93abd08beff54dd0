// Lesson 4: generators written by hand, run by a scheduler.
//
// Run it:      scripts/run.sh 4 --trace
// Connect:     nc 127.0.0.1 5000      (from several terminals at once)
// Observe:     every client is echoed at once, as in lessons 2 and 3. The
//              trace shows which task runs, what it waits for next, and which
//              socket became ready to wake it.
// Why:         each connection is a task, a generator written by hand: next()
//              runs it until it must wait for its socket and returns what it
//              waits for (Python: yield ('read', sock)). state_ says where the
//              next call resumes; what must outlive a wait is a member. The
//              Scheduler (scheduler.hpp) runs a task again when lesson 3's
//              Selector reports its socket ready.
// Since 3:     the callbacks are gone: a connection's code is one function
//              again, as in lesson 1, only cut into pieces at each wait.
// Shortcuts:   one task per socket; epoll only (lesson 3 compares backends).
// Next lesson: C++20 coroutines, with which the compiler cuts the function
//              into these pieces for us.

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
#include "common/command_line.hpp"
#include "common/net.hpp"
#include "common/stop_signal.hpp"

namespace {

using lesson4::Scheduler;
using lesson4::Wait;
using lesson4::wait_to_read;
using lesson4::wait_to_write;

// Python: def client(client_socket): while True: yield ('read', ...);
// data = recv(); yield ('write', ...); send(data). Each yield is a state.
//
// Unlike the course, it sends right after reading, and waits to write only
// when send() did not take everything: a socket is nearly always writable,
// and a trip through select() for every message would double the work.
//
// The bytes just received sit in the buffer every task shares, and only until
// this task next waits, so what send() did not take moves to pending_output_.
// While that is not empty the task stops reading: a client that sends without
// reading fills its own socket buffers, and we hold at most one buffer for it.
class ClientTask {
 public:
  ClientTask(common::FileDescriptor connection, std::string name, std::span<char> buffer)
      : connection_(std::move(connection)), name_(std::move(name)), buffer_(buffer) {}
  ClientTask(ClientTask&&) = default;
  // The scheduler destroys a task once it has finished, and every task at
  // Ctrl-C: either way its client is gone. (A moved-from task has no socket.)
  ~ClientTask() {
    if (connection_) std::cout << "connection from " << name_ << " closed" << std::endl;
  }

  // Python: next(task). The switch jumps to where the previous call stopped.
  std::optional<Wait> next() {
    const int fd = connection_.get();
    switch (state_) {
      case State::created:
        state_ = State::waiting_to_read;
        return wait_to_read(fd);  // Python: yield ('read', client_socket)

      case State::waiting_to_read: {  // resumes after that yield
        const std::optional<std::size_t> received = lesson4::receive_some(fd, buffer_);
        if (!received) return finish();
        if (*received == 0) return wait_to_read(fd);
        const std::optional<std::size_t> sent = common::send_some(fd, buffer_.first(*received));
        if (!sent) return finish();
        if (*sent == *received) return wait_to_read(fd);
        pending_output_.assign(buffer_.data() + *sent, *received - *sent);
        state_ = State::waiting_to_write;
        return wait_to_write(fd);  // Python: yield ('write', client_socket)
      }

      case State::waiting_to_write: {  // resumes after that yield
        const std::optional<std::size_t> sent = common::send_some(fd, pending_output_);
        if (!sent) return finish();
        pending_output_.erase(0, *sent);
        if (!pending_output_.empty()) return wait_to_write(fd);
        pending_output_.shrink_to_fit();  // an idle connection keeps no buffer
        state_ = State::waiting_to_read;
        return wait_to_read(fd);
      }

      case State::finished:
        break;
    }
    return std::nullopt;  // Python: a finished generator raises StopIteration again
  }

 private:
  enum class State { created, waiting_to_read, waiting_to_write, finished };

  // The socket closes when the scheduler destroys the finished task.
  std::optional<Wait> finish() {
    state_ = State::finished;
    return std::nullopt;
  }

  State state_ = State::created;
  common::FileDescriptor connection_;
  std::string name_;
  std::span<char> buffer_;
  std::string pending_output_;  // received, not yet sent back
};

// Python: def server(): while True: yield ('read', server_socket);
// accept(); tasks.append(client(client_socket)). One yield, one state to resume.
class ServerTask {
 public:
  ServerTask(common::FileDescriptor listener, Scheduler& scheduler, std::span<char> buffer)
      : listener_(std::move(listener)), scheduler_(scheduler), buffer_(buffer) {}

  std::optional<Wait> next() {
    switch (state_) {
      case State::created:
        state_ = State::waiting_to_read;
        break;

      case State::waiting_to_read:  // resumes after the yield below
        if (std::optional<common::FileDescriptor> connection =
                common::accept_client(listener_.get())) {
          std::string name = common::peer_name(connection->get());
          std::cout << "connection from " << name << std::endl;
          scheduler_.spawn(ClientTask(std::move(*connection), std::move(name), buffer_));
        }
        break;
    }
    return wait_to_read(listener_.get());  // Python: yield ('read', server_socket)
  }

 private:
  enum class State { created, waiting_to_read };

  State state_ = State::created;
  common::FileDescriptor listener_;
  Scheduler& scheduler_;
  std::span<char> buffer_;
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
    common::set_nonblocking(listener.get());
    common::print_listening(listener.get());
    // One receive buffer for every client: a task uses it between recv() and
    // send() and never across a wait, so a connection costs only its task.
    std::vector<char> buffer(64 * 1024);
    const std::unique_ptr<lesson3::Selector> selector =
        lesson3::make_selector(lesson3::Backend::epoll);
    Scheduler scheduler(*selector, common::Tracer(options.trace, options.timeline));
    scheduler.spawn(ServerTask(std::move(listener), scheduler, buffer));
    scheduler.run_until_readable(common::stop_fd());
  } catch (const std::exception& error) {
    std::cerr << "generator_echo_server: " << error.what() << '\n';
    return 1;
  }
  return 0;
}
