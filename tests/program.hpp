// Test support shared by every suite: start a program from build/bin, talk to
// it through its standard streams, and connect to it as a client.
//
// Every wait here takes a timeout (writing to a program's standard input
// excepted: keep what a test writes small), so a broken program fails a test
// instead of hanging it; and a Program that goes out of scope still running is killed.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/net.hpp"

namespace test_support {

using namespace std::chrono_literals;

// build/bin/NAME: where CMake puts every program.
std::string program_path(std::string_view name);

// The descriptors a program starts with, beyond its standard streams.
struct Descriptors {
  // So many left open to it (on /dev/null), numbered from 3 up, as a careless
  // parent leaves them.
  int inherited = 0;
  // Its soft limit on open descriptors (RLIMIT_NOFILE); 0 keeps ours. It
  // must not exceed our hard limit, and must leave room for `inherited`.
  long limit = 0;
};

// Whether our hard limit lets a program start with a descriptor limit this high.
bool descriptor_limit_allows(long limit);

// A program started with a pipe on each of its standard streams. A thread
// drains its standard output into lines and another its standard error, so it
// never blocks on a full pipe however much it prints.
class Program {
 public:
  explicit Program(std::string_view name, const std::vector<std::string>& arguments = {},
                   const Descriptors& descriptors = {});
  ~Program();
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;

  pid_t pid() const { return pid_; }

  // The next line of standard output without its '\n'; nullopt when the
  // program has closed its output or the timeout passed first.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout = 10s);
  // Every line still to come, until the program closes its output (or the
  // timeout passes), joined with '\n' after each.
  std::string read_remaining_output(std::chrono::milliseconds timeout = 10s);

  void write_input(std::string_view text);
  void close_input();

  void send_signal(int signal_number);
  // Whether it comes to be in `state` before the timeout, as /proc/PID/stat
  // says: 'S' asleep in a blocking call, 'T' stopped (SIGSTOP). Nothing
  // announces a state, so this polls it, every millisecond.
  bool reaches_state(char state, std::chrono::milliseconds timeout = 10s) const;
  // The exit code; 128 + N when signal N killed it; -1 when it is still
  // running after the timeout (it is then killed). Once it returns, the
  // output lines and error_output() hold everything the program wrote.
  int wait_for_exit(std::chrono::milliseconds timeout = 10s);

  // Everything written to standard error so far.
  std::string error_output() const;

 private:
  void drain_output(int fd);
  void drain_errors(int fd);

  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  common::FileDescriptor input_;

  mutable std::mutex mutex_;
  std::condition_variable streams_changed_;
  std::deque<std::string> lines_;
  bool output_closed_ = false;
  std::string errors_;
  bool errors_closed_ = false;

  std::thread output_reader_;
  std::thread error_reader_;
};

// Runs a program to completion with the given standard input.
struct Finished {
  int exit_code;  // as Program::wait_for_exit
  std::string output;
  std::string error;
};
Finished run_program(std::string_view name, const std::vector<std::string>& arguments,
                     std::string_view input = {}, std::chrono::milliseconds timeout = 30s,
                     const Descriptors& descriptors = {});

// A server started with --port 0 (and the extra arguments), once it has
// printed "listening on 127.0.0.1:P". The constructor throws if that line does
// not come within 10 seconds.
class Server {
 public:
  explicit Server(std::string_view name, const std::vector<std::string>& extra_arguments = {},
                  const Descriptors& descriptors = {});

  std::uint16_t port() const { return port_; }
  Program& program() { return program_; }
  // SIGTERM, then the exit code (as Program::wait_for_exit).
  int stop(std::chrono::milliseconds timeout = 10s);

 private:
  Program program_;
  std::uint16_t port_ = 0;
};

// The port a socket is bound to: "127.0.0.1:P" gives P.
std::uint16_t port_of(int fd);
// A blocking TCP connection to 127.0.0.1:port.
common::FileDescriptor connect_to(std::uint16_t port);
// Sends every byte (throws std::system_error if the connection fails).
void send_all(int fd, std::string_view bytes);
// Receives until `count` bytes came, the peer closed, or the timeout passed;
// returns what came.
std::string receive_exactly(int fd, std::size_t count, std::chrono::milliseconds timeout = 10s);
// Whether fd turns readable (data, or the peer closing) within the timeout.
bool wait_readable(int fd, std::chrono::milliseconds timeout);

// While one lives, SIGHUP (what a closing terminal sends) has `disposition`
// in this test process, and the programs started meanwhile inherit it:
// SIG_DFL, as a terminal's shell starts them, whatever this process was
// started with; or SIG_IGN, as nohup starts them.
class SighupDisposition {
 public:
  using Disposition = void (*)(int);
  explicit SighupDisposition(Disposition disposition) : before_(std::signal(SIGHUP, disposition)) {}
  ~SighupDisposition() { std::signal(SIGHUP, before_); }
  SighupDisposition(const SighupDisposition&) = delete;
  SighupDisposition& operator=(const SighupDisposition&) = delete;

 private:
  Disposition before_;
};

// Two connected, non-blocking local stream sockets: what one end sends, the
// other receives. For tests of event loops that need no network at all.
struct SocketPair {
  common::FileDescriptor ours;
  common::FileDescriptor theirs;
};
SocketPair make_socket_pair();

}  // namespace test_support
