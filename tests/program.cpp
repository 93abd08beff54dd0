#include "tests/program.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <fstream>
#include <stdexcept>
#include <string>
#include <system_error>

namespace test_support {

namespace {

std::system_error os_error(std::string_view what) {
  return {errno, std::generic_category(), std::string(what)};
}

struct Pipe {
  common::FileDescriptor read_end;
  common::FileDescriptor write_end;
};

Pipe make_pipe() {
  int ends[2];
  // O_CLOEXEC: only the dup2'ed copies reach the child, so its output closes
  // when it exits and our readers see end of file.
  if (pipe2(ends, O_CLOEXEC) < 0) throw os_error("pipe2");
  return {common::FileDescriptor(ends[0]), common::FileDescriptor(ends[1])};
}

int exit_code_from(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// Writing to a program that has already exited must fail with EPIPE, not
// kill the test.
const bool sigpipe_ignored = [] {
  std::signal(SIGPIPE, SIG_IGN);
  return true;
}();

}  // namespace

bool descriptor_limit_allows(long limit) {
  rlimit current{};
  return getrlimit(RLIMIT_NOFILE, &current) == 0 && current.rlim_max >= static_cast<rlim_t>(limit);
}

std::string program_path(std::string_view name) {
  return std::string(PROGRAM_DIR) + "/" + std::string(name);
}

Program::Program(std::string_view name, const std::vector<std::string>& arguments,
                 const Descriptors& descriptors) {
  const std::string path = program_path(name);
  std::vector<std::string> words{path};
  words.insert(words.end(), arguments.begin(), arguments.end());
  std::vector<char*> argv;
  for (std::string& word : words)
    argv.push_back(word.data());
  argv.push_back(nullptr);

  if (access(path.c_str(), X_OK) != 0) throw os_error("cannot run " + path);
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) < 0) throw os_error("getrlimit(RLIMIT_NOFILE)");
  if (descriptors.limit > 0) limit.rlim_cur = static_cast<rlim_t>(descriptors.limit);
  if (limit.rlim_cur > limit.rlim_max ||
      limit.rlim_cur < static_cast<rlim_t>(3 + descriptors.inherited)) {
    throw std::invalid_argument("no room for " + std::to_string(descriptors.inherited) +
                                " inherited descriptors under a limit of " +
                                std::to_string(limit.rlim_cur));
  }

  Pipe input = make_pipe();
  Pipe output = make_pipe();
  Pipe errors = make_pipe();
  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ < 0) throw os_error("fork");
  if (pid_ == 0) {
    // The child may only make async-signal-safe calls until exec. It asks to
    // be killed when the test dies, so that a crashed test leaves no server
    // running behind it.
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent) _exit(127);
    if (dup2(input.read_end.get(), STDIN_FILENO) < 0 ||
        dup2(output.write_end.get(), STDOUT_FILENO) < 0 ||
        dup2(errors.write_end.get(), STDERR_FILENO) < 0) {
      _exit(127);
    }
    // (setrlimit() too is a plain system call.) The pipes' own descriptors
    // close at exec, so /dev/null may take their numbers.
    if (setrlimit(RLIMIT_NOFILE, &limit) < 0) _exit(127);
    if (descriptors.inherited > 0) {
      const int null = open("/dev/null", O_RDONLY);
      for (int fd = 3; fd < 3 + descriptors.inherited; ++fd) {
        if (null < 0 || dup2(null, fd) < 0) _exit(127);
      }
      if (null >= 3 + descriptors.inherited) close(null);
    }
    execv(path.c_str(), argv.data());
    _exit(127);
  }

  input_ = std::move(input.write_end);
  output_reader_ = std::thread(&Program::drain_output, this, output.read_end.release());
  error_reader_ = std::thread(&Program::drain_errors, this, errors.read_end.release());
}

Program::~Program() {
  if (!exit_code_) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  input_.reset();
  output_reader_.join();
  error_reader_.join();
}

void Program::drain_output(int fd) {
  const common::FileDescriptor owned(fd);
  std::string partial;
  char chunk[4096];
  while (true) {
    const ssize_t count = read(fd, chunk, sizeof chunk);
    if (count < 0 && errno == EINTR) continue;
    if (count <= 0) break;
    partial.append(chunk, static_cast<std::size_t>(count));
    std::size_t newline;
    const std::lock_guard lock(mutex_);
    while ((newline = partial.find('\n')) != std::string::npos) {
      lines_.push_back(partial.substr(0, newline));
      partial.erase(0, newline + 1);
    }
    streams_changed_.notify_all();
  }
  const std::lock_guard lock(mutex_);
  if (!partial.empty()) lines_.push_back(partial);
  output_closed_ = true;
  streams_changed_.notify_all();
}

void Program::drain_errors(int fd) {
  const common::FileDescriptor owned(fd);
  char chunk[4096];
  while (true) {
    const ssize_t count = read(fd, chunk, sizeof chunk);
    if (count < 0 && errno == EINTR) continue;
    if (count <= 0) break;
    const std::lock_guard lock(mutex_);
    errors_.append(chunk, static_cast<std::size_t>(count));
  }
  const std::lock_guard lock(mutex_);
  errors_closed_ = true;
  streams_changed_.notify_all();
}

std::optional<std::string> Program::read_line(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  streams_changed_.wait_for(lock, timeout, [this] { return !lines_.empty() || output_closed_; });
  if (lines_.empty()) return std::nullopt;
  std::string line = std::move(lines_.front());
  lines_.pop_front();
  return line;
}

std::string Program::read_remaining_output(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  streams_changed_.wait_for(lock, timeout, [this] { return output_closed_; });
  std::string text;
  for (const std::string& line : lines_)
    text += line + '\n';
  lines_.clear();
  return text;
}

void Program::write_input(std::string_view text) {
  while (!text.empty()) {
    const ssize_t written = write(input_.get(), text.data(), text.size());
    if (written < 0 && errno == EINTR) continue;
    // A program that has closed its input (or exited) wants no more of it.
    if (written < 0 && errno == EPIPE) return;
    if (written < 0) throw os_error("write to the program's standard input");
    text.remove_prefix(static_cast<std::size_t>(written));
  }
}

void Program::close_input() {
  input_.reset();
}

void Program::send_signal(int signal_number) {
  if (!exit_code_) kill(pid_, signal_number);
}

bool Program::reaches_state(char state, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  do {
    std::ifstream stat("/proc/" + std::to_string(pid_) + "/stat");
    std::string line;
    std::getline(stat, line);
    // The state follows "PID (NAME) ", and the name may hold ") " itself.
    const std::size_t name_end = line.rfind(") ");
    if (name_end != std::string::npos && name_end + 2 < line.size() && line[name_end + 2] == state)
      return true;
    poll(nullptr, 0, 1);
  } while (std::chrono::steady_clock::now() < deadline);
  return false;
}

int Program::wait_for_exit(std::chrono::milliseconds timeout) {
  if (exit_code_) return *exit_code_;
  // A pidfd turns readable when the process exits: a wait with a timeout,
  // with no polling loop.
  const common::FileDescriptor exited(static_cast<int>(syscall(SYS_pidfd_open, pid_, 0)));
  if (!exited) throw os_error("pidfd_open");
  pollfd watch{exited.get(), POLLIN, 0};
  int ready;
  do {
    ready = poll(&watch, 1, static_cast<int>(timeout.count()));
  } while (ready < 0 && errno == EINTR);
  if (ready <= 0) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    exit_code_ = -1;
    return -1;
  }
  int status = 0;
  waitpid(pid_, &status, 0);
  exit_code_ = exit_code_from(status);
  // Its pipes close with it; let the readers take in the last bytes.
  std::unique_lock lock(mutex_);
  streams_changed_.wait_for(lock, timeout, [this] { return output_closed_ && errors_closed_; });
  return *exit_code_;
}

std::string Program::error_output() const {
  const std::lock_guard lock(mutex_);
  return errors_;
}

Finished run_program(std::string_view name, const std::vector<std::string>& arguments,
                     std::string_view input, std::chrono::milliseconds timeout,
                     const Descriptors& descriptors) {
  Program program(name, arguments, descriptors);
  program.write_input(input);
  program.close_input();
  std::string output = program.read_remaining_output(timeout);
  const int exit_code = program.wait_for_exit(timeout);
  return {exit_code, std::move(output), program.error_output()};
}

Server::Server(std::string_view name, const std::vector<std::string>& extra_arguments,
               const Descriptors& descriptors)
    : program_(
          name,
          [&] {
            std::vector<std::string> arguments{"--port", "0"};
            arguments.insert(arguments.end(), extra_arguments.begin(), extra_arguments.end());
            return arguments;
          }(),
          descriptors) {
  const std::optional<std::string> line = program_.read_line(10s);
  const std::string_view prefix = "listening on 127.0.0.1:";
  if (!line || !line->starts_with(prefix)) {
    throw std::runtime_error(std::string(name) + " did not print '" + std::string(prefix) +
                             "P'; it printed '" + line.value_or("") + "' and on stderr '" +
                             program_.error_output() + "'");
  }
  port_ = static_cast<std::uint16_t>(std::stoi(line->substr(prefix.size())));
}

int Server::stop(std::chrono::milliseconds timeout) {
  program_.send_signal(SIGTERM);
  return program_.wait_for_exit(timeout);
}

std::uint16_t port_of(int fd) {
  const std::string name = common::local_name(fd);
  return static_cast<std::uint16_t>(std::stoul(name.substr(name.rfind(':') + 1)));
}

common::FileDescriptor connect_to(std::uint16_t port) {
  common::FileDescriptor socket(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!socket) throw os_error("socket");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(socket.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) < 0) {
    throw os_error("connect to 127.0.0.1:" + std::to_string(port));
  }
  return socket;
}

void send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t sent = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent < 0) throw os_error("send");
    bytes.remove_prefix(static_cast<std::size_t>(sent));
  }
}

bool wait_readable(int fd, std::chrono::milliseconds timeout) {
  pollfd watch{fd, POLLIN, 0};
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    const int ready = poll(&watch, 1, static_cast<int>(std::max(left.count(), 0L)));
    if (ready < 0 && errno == EINTR) continue;
    return ready > 0;
  }
}

std::string receive_exactly(int fd, std::size_t count, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string received;
  char chunk[65536];
  while (received.size() < count) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !wait_readable(fd, left)) break;
    const std::size_t wanted = std::min(sizeof chunk, count - received.size());
    const ssize_t got = recv(fd, chunk, wanted, MSG_DONTWAIT);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got <= 0) break;
    received.append(chunk, static_cast<std::size_t>(got));
  }
  return received;
}

SocketPair make_socket_pair() {
  int ends[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, ends) < 0) {
    throw os_error("socketpair");
  }
  return {common::FileDescriptor(ends[0]), common::FileDescriptor(ends[1])};
}

}  // namespace test_support
