// echo_load: the load generator behind scripts/bench.sh.
//
// Run it:   build/bin/echo_load --port 5000 --connections 64 --duration-ms 2000
//           build/bin/echo_load --port 5000 --connections 64 --messages 100000
//           build/bin/echo_load --port 5000 --connections 10000 --idle
// Observe:  messages per second, the median (p50) and 99th percentile (p99)
//           round-trip time, and the number of errors.
// How:      one thread and one epoll loop, like the servers it measures. Every
//           connection first echoes one message (so the server has surely
//           accepted it), then, once all are open, does request/response: it
//           sends one message of --size bytes, waits until every byte has come
//           back, checks each one, and sends the next. Each byte depends on the
//           connection, the message's number and its position, so a lost,
//           reordered, duplicated or misdelivered byte is caught.
// --think-time-us makes each connection pause after every echo, as a person
// would. scripts/bench.sh uses it under valgrind, where the server runs fifty
// times slower: without the pause, the next message would always be waiting
// when the server looks, which at full speed it seldom is.
// Idle mode opens the connections the same way, prints "holding N idle
// connections", and keeps them open until standard input ends (or carries a
// line) or --duration-ms passes, so a script can measure the server meanwhile.
//
// Bounded on purpose: loopback addresses only, at most 20,000 connections, a
// time limit on every run and on every single echo (--timeout-ms).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <deque>
#include <iomanip>
#include <iostream>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "common/command_line.hpp"
#include "common/net.hpp"
#include "common/stop_signal.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct Options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 5000;
  long connections = 1;
  long size = 64;
  long duration_ms = 2000;
  long messages = 0;  // 0: run for --duration-ms instead
  long timeout_ms = 5000;
  long think_time_us = 0;
  bool idle = false;
};

// Byte `index` of message `sequence` on connection `connection`: a cheap hash,
// so that every message differs from its neighbours in every position.
char message_byte(std::uint32_t connection, std::uint64_t sequence, std::size_t index) {
  const std::uint64_t mixed =
      (connection * 0x9E3779B97F4A7C15ULL) ^ (sequence * 0xC2B2AE3D27D4EB4FULL);
  return static_cast<char>(((mixed + index) * 0x100000001B3ULL) >> 56);
}

// Round-trip times go into a log-linear histogram: 64 buckets per power of
// two, so a percentile is off by less than 1/64 (1.6 %) and the memory stays
// a few KiB however long the run (HdrHistogram's idea, much reduced).
constexpr int sub_bucket_bits = 6;
constexpr std::uint64_t max_nanoseconds = (std::uint64_t{1} << 40) - 1;  // 18 minutes

// Values below 128 get a bucket each; above, the top 7 bits pick the bucket.
constexpr std::size_t bucket_index(std::uint64_t nanoseconds) {
  const int shift =
      std::max(static_cast<int>(std::bit_width(nanoseconds)) - (sub_bucket_bits + 1), 0);
  return (static_cast<std::size_t>(shift) << sub_bucket_bits) + (nanoseconds >> shift);
}

// The lowest value a bucket holds, and how many values it holds.
constexpr std::pair<std::uint64_t, std::uint64_t> bucket_range(std::size_t index) {
  if (index < (2u << sub_bucket_bits)) return {index, 1};
  const std::size_t shift = (index >> sub_bucket_bits) - 1;
  return {(index - (shift << sub_bucket_bits)) << shift, std::uint64_t{1} << shift};
}

class LatencyHistogram {
 public:
  void record(Clock::duration time) {
    const auto nanoseconds = static_cast<std::uint64_t>(std::max<Clock::rep>(time.count(), 0));
    ++counts_[bucket_index(std::min(nanoseconds, max_nanoseconds))];
    ++count_;
  }

  std::uint64_t count() const { return count_; }

  // The middle of the bucket that holds the sample of this rank (0 < fraction <= 1).
  double percentile_microseconds(double fraction) const {
    const auto rank = std::max<std::uint64_t>(
        static_cast<std::uint64_t>(std::ceil(fraction * static_cast<double>(count_))), 1);
    std::uint64_t seen = 0;
    for (std::size_t index = 0; index < counts_.size(); ++index) {
      seen += counts_[index];
      if (seen >= rank) {
        const auto [lowest, width] = bucket_range(index);
        return (static_cast<double>(lowest) + static_cast<double>(width - 1) / 2) / 1000;
      }
    }
    return 0;
  }

 private:
  std::array<std::uint64_t, bucket_index(max_nanoseconds) + 1> counts_{};
  std::uint64_t count_ = 0;
};

struct Connection {
  enum class State { unopened, connecting, echoing, parked, closed };

  common::FileDescriptor socket;
  std::uint32_t number = 0;
  State state = State::unopened;
  bool wants_write = true;     // what epoll watches besides "readable"
  std::uint64_t sequence = 0;  // the message in flight; 0 is the opening echo
  std::size_t sent = 0;        // bytes of it the kernel has taken
  std::size_t received = 0;    // bytes of it that came back, checked
  std::uint64_t messages_left = 0;
  Clock::time_point sent_at;  // when its first byte went out
  Clock::time_point last_progress;
  Clock::time_point resume_at;  // the end of its think time
};

class LoadClient {
 public:
  LoadClient(const Options& options, const sockaddr_in& address)
      : options_(options),
        address_(address),
        epoll_(epoll_create1(EPOLL_CLOEXEC)),
        scratch_(65536) {
    if (!epoll_) throw std::system_error(errno, std::generic_category(), "epoll_create1");
    connections_.resize(static_cast<std::size_t>(options.connections));
    for (std::size_t i = 0; i < connections_.size(); ++i) {
      connections_[i].number = static_cast<std::uint32_t>(i);
    }
    watch(common::stop_fd(), EPOLLIN, stop_tag);
  }

  // Returns the number of errors.
  std::uint64_t run() {
    const Clock::time_point started = Clock::now();
    open_connections(started + std::chrono::milliseconds(options_.duration_ms));
    if (options_.idle) {
      hold_connections(started + std::chrono::milliseconds(options_.duration_ms));
    } else {
      measure();
    }
    return errors_;
  }

 private:
  static constexpr std::uint64_t stop_tag = ~std::uint64_t{0};
  static constexpr std::uint64_t input_tag = stop_tag - 1;
  // Connections whose opening echo has not come back yet. More than the
  // server's accept backlog would drop handshakes and cost a 1 s retry each.
  static constexpr std::size_t max_opening = 128;

  void watch(int fd, std::uint32_t events, std::uint64_t tag) {
    epoll_event event{};
    event.events = events;
    event.data.u64 = tag;
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) < 0) {
      throw std::system_error(errno, std::generic_category(), "epoll_ctl");
    }
  }

  void set_wants_write(Connection& connection, bool wants_write) {
    if (connection.wants_write == wants_write) return;
    connection.wants_write = wants_write;
    epoll_event event{};
    event.events = EPOLLIN | (wants_write ? EPOLLOUT : 0u);
    event.data.u64 = connection.number;
    epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, connection.socket.get(), &event);
  }

  void fail(Connection& connection, std::string_view what, int error = 0) {
    ++errors_;
    if (errors_ <= 10) {
      std::cerr << "echo_load: connection " << connection.number << ": " << what;
      if (error != 0) std::cerr << ": " << std::strerror(error);
      std::cerr << (errors_ == 10 ? " (further errors not shown)\n" : "\n");
    }
    drop(connection);
  }

  void drop(Connection& connection) {
    if (connection.state == Connection::State::connecting ||
        connection.state == Connection::State::echoing) {
      --busy_;
    }
    connection.state = Connection::State::closed;
    connection.socket.reset();  // close() also removes it from epoll
  }

  void start_connecting(Connection& connection) {
    ++busy_;
    connection.state = Connection::State::connecting;
    connection.last_progress = Clock::now();
    connection.socket =
        common::FileDescriptor(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!connection.socket) return fail(connection, "socket", errno);
    // Small request/response messages must not wait for Nagle's algorithm.
    const int yes = 1;
    setsockopt(connection.socket.get(), IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
    if (connect(connection.socket.get(), reinterpret_cast<const sockaddr*>(&address_),
                sizeof address_) < 0 &&
        errno != EINPROGRESS) {
      return fail(connection, "connect", errno);
    }
    watch(connection.socket.get(), EPOLLIN | EPOLLOUT, connection.number);
  }

  void start_message(Connection& connection) {
    ++busy_;
    connection.state = Connection::State::echoing;
    connection.sent = 0;
    connection.received = 0;
    connection.sent_at = connection.last_progress = Clock::now();
    write_message(connection);
  }

  // Offers the rest of the message; a partial write leaves interest in
  // "writable" on until the kernel has taken all of it.
  void write_message(Connection& connection) {
    const auto size = static_cast<std::size_t>(options_.size);
    for (std::size_t i = connection.sent; i < size; ++i) {
      scratch_[i - connection.sent] = message_byte(connection.number, connection.sequence, i);
    }
    const ssize_t sent =
        send(connection.socket.get(), scratch_.data(), size - connection.sent, MSG_NOSIGNAL);
    if (sent < 0 && errno != EAGAIN && errno != EINTR) return fail(connection, "send", errno);
    if (sent > 0) {
      connection.sent += static_cast<std::size_t>(sent);
      connection.last_progress = Clock::now();
    }
    set_wants_write(connection, connection.sent < size);
  }

  // Reads what came back and checks it byte by byte against what was sent.
  // Returns true when the whole message is back.
  bool read_echo(Connection& connection) {
    const ssize_t received = recv(connection.socket.get(), scratch_.data(), scratch_.size(), 0);
    if (received < 0) {
      if (errno != EAGAIN && errno != EINTR) fail(connection, "recv", errno);
      return false;
    }
    if (received == 0) {
      fail(connection, "the server closed the connection");
      return false;
    }
    const auto count = static_cast<std::size_t>(received);
    if (connection.state != Connection::State::echoing ||
        connection.received + count > connection.sent) {
      fail(connection, "received bytes that were never sent");
      return false;
    }
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t position = connection.received + i;
      if (scratch_[i] != message_byte(connection.number, connection.sequence, position)) {
        fail(connection, "byte " + std::to_string(position) + " of message " +
                             std::to_string(connection.sequence) + " came back changed");
        return false;
      }
    }
    connection.received += count;
    connection.last_progress = Clock::now();
    return connection.received == static_cast<std::size_t>(options_.size);
  }

  void finish_connecting(Connection& connection) {
    int error = 0;
    socklen_t length = sizeof error;
    getsockopt(connection.socket.get(), SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) return fail(connection, "connect", error);
    --busy_;  // start_message counts it again
    start_message(connection);
  }

  // One epoll_wait and its events; on_echoed(connection) runs for every
  // complete echo. Returns false once a stop signal or end of input arrived.
  template <typename OnEchoed>
  bool poll_once(Clock::time_point deadline, OnEchoed on_echoed) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    const int timeout = static_cast<int>(std::clamp<long>(left.count(), 0, 100));
    const int count =
        epoll_wait(epoll_.get(), events_.data(), static_cast<int>(events_.size()), timeout);
    if (count < 0 && errno != EINTR)
      throw std::system_error(errno, std::generic_category(), "epoll_wait");
    bool keep_going = true;
    for (int i = 0; i < count; ++i) {
      const epoll_event& event = events_[static_cast<std::size_t>(i)];
      if (event.data.u64 == stop_tag || event.data.u64 == input_tag) {
        keep_going = false;
        continue;
      }
      Connection& connection = connections_[event.data.u64];
      if (connection.state == Connection::State::connecting) {
        finish_connecting(connection);
        continue;
      }
      if ((event.events & EPOLLOUT) != 0 && connection.state == Connection::State::echoing) {
        write_message(connection);
      }
      if ((event.events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0 &&
          connection.state != Connection::State::closed && read_echo(connection)) {
        --busy_;
        connection.state = Connection::State::parked;
        on_echoed(connection);
      }
    }
    check_timeouts();
    return keep_going;
  }

  // A connection that waited --timeout-ms for its connect or its echo failed.
  void check_timeouts() {
    const Clock::time_point now = Clock::now();
    if (now - last_timeout_check_ < 100ms) return;
    last_timeout_check_ = now;
    for (Connection& connection : connections_) {
      if ((connection.state == Connection::State::connecting ||
           connection.state == Connection::State::echoing) &&
          now - connection.last_progress > std::chrono::milliseconds(options_.timeout_ms)) {
        fail(connection, "nothing came back for " + std::to_string(options_.timeout_ms) + " ms");
      }
    }
  }

  // Every connection connects and echoes one message, at most max_opening at
  // a time, then waits (parked) for the others.
  void open_connections(Clock::time_point deadline) {
    std::size_t next = 0;
    auto open_more = [&] {
      while (next < connections_.size() && busy_ < max_opening) {
        start_connecting(connections_[next++]);
      }
    };
    auto count_open = [&](Connection&) { ++open_; };
    open_more();
    while (busy_ > 0) {
      if (Clock::now() >= deadline) throw std::runtime_error("time limit reached while connecting");
      if (!poll_once(deadline, count_open)) throw std::runtime_error("stopped while connecting");
      open_more();
    }
  }

  void hold_connections(Clock::time_point deadline) {
    std::cout << "holding " << open_ << " idle connections" << std::endl;
    // Standard input may be a file or /dev/null, which epoll refuses: then it
    // has already ended, and so has the hold.
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = input_tag;
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, STDIN_FILENO, &event) < 0) return report_idle();
    // A parked connection turns readable only if the server closes it or
    // sends what nobody asked for; read_echo counts that as an error.
    while (Clock::now() < deadline && poll_once(deadline, [](Connection&) {})) {
    }
    report_idle();
  }

  void report_idle() const {
    std::cout << "connections: " << open_ << "\nerrors: " << errors_ << std::endl;
  }

  void measure() {
    const bool counted = options_.messages > 0;
    const auto count = static_cast<std::uint64_t>(options_.messages);
    for (Connection& connection : connections_) {
      connection.messages_left =
          count / connections_.size() + (connection.number < count % connections_.size() ? 1 : 0);
    }
    LatencyHistogram latencies;
    const Clock::time_point started = Clock::now();
    const Clock::time_point deadline = started + std::chrono::milliseconds(options_.duration_ms);
    // Connections waiting out their think time, in the order they go on:
    // every wait is equally long, so the first in is the first out.
    std::deque<Connection*> thinking;
    const std::chrono::microseconds think_time(options_.think_time_us);
    auto next_message = [&](Connection& connection) {
      latencies.record(Clock::now() - connection.sent_at);
      if (counted && --connection.messages_left == 0) return;
      ++connection.sequence;
      if (think_time.count() == 0) return start_message(connection);
      connection.resume_at = Clock::now() + think_time;
      thinking.push_back(&connection);
    };
    for (Connection& connection : connections_) {
      const bool has_work = !counted || connection.messages_left > 0;
      if (connection.state == Connection::State::parked && has_work) {
        connection.sequence = 1;
        start_message(connection);
      }
    }
    bool stopped = false;
    while ((busy_ > 0 || !thinking.empty()) && Clock::now() < deadline) {
      const Clock::time_point wake_up =
          thinking.empty() ? deadline : std::min(deadline, thinking.front()->resume_at);
      if (!poll_once(wake_up, next_message)) {
        stopped = true;
        break;
      }
      while (!thinking.empty() && thinking.front()->resume_at <= Clock::now()) {
        Connection& connection = *thinking.front();
        thinking.pop_front();
        if (connection.state == Connection::State::parked) start_message(connection);
      }
    }
    const std::chrono::duration<double> elapsed = Clock::now() - started;
    // Connections still at work in a counted run: the time limit cut it short.
    if (counted && (busy_ > 0 || !thinking.empty()) && !stopped) {
      ++errors_;
      std::cerr << "echo_load: only " << latencies.count() << " of " << count
                << " messages came back within " << options_.duration_ms << " ms\n";
    }
    report(latencies, elapsed.count());
  }

  void report(const LatencyHistogram& latencies, double seconds) const {
    const auto messages = latencies.count();
    std::cout << std::fixed << std::setprecision(1) << "connections: " << open_ << " ("
              << options_.size << "-byte messages)\n"
              << "messages: " << messages << "\n"
              << std::setprecision(3) << "seconds: " << seconds << "\n"
              << std::setprecision(0) << "messages/s: " << static_cast<double>(messages) / seconds
              << "\n"
              << std::setprecision(1) << "p50 latency: " << latencies.percentile_microseconds(0.50)
              << " us\n"
              << "p99 latency: " << latencies.percentile_microseconds(0.99) << " us\n"
              << "errors: " << errors_ << std::endl;
  }

  const Options options_;
  const sockaddr_in address_;
  common::FileDescriptor epoll_;
  std::vector<Connection> connections_;
  std::vector<char> scratch_;  // one outgoing message (--size is at most 64 KiB) or one recv
  std::array<epoll_event, 256> events_{};
  std::size_t busy_ = 0;  // connections waiting for a connect or an echo
  std::size_t open_ = 0;  // connections whose opening echo came back
  std::uint64_t errors_ = 0;
  Clock::time_point last_timeout_check_ = Clock::now();
};

// Only 127.x.x.x: a load generator must not be pointed at someone else's server.
std::optional<sockaddr_in> loopback_address(const std::string& host, std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  if (inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) return std::nullopt;
  if ((ntohl(address.sin_addr.s_addr) >> 24) != 127) return std::nullopt;
  return address;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  common::CommandLine command_line(
      "echo_load",
      "Loads an echo server on this machine with request/response traffic and checks every byte.");
  command_line.option("--host", "server address (loopback only)", options.host);
  command_line.option("--port", "server port", options.port);
  command_line.option("--connections", "connections, 1 to 20000", options.connections, 1, 20000);
  command_line.option("--size", "bytes per message, 1 to 65536", options.size, 1, 65536);
  command_line.option(
      "--duration-ms",
      "how long to measure; with --messages or --idle, the longest the run may take",
      options.duration_ms, 1, 600000);
  command_line.option("--messages",
                      "send this many messages in all, then stop (0: use the duration)",
                      options.messages, 0, 100000000);
  command_line.option("--timeout-ms", "a connect or an echo that takes longer is an error",
                      options.timeout_ms, 1, 600000);
  command_line.option("--think-time-us",
                      "after each echo, wait at least this long before the next message",
                      options.think_time_us, 0, 1000000);
  command_line.flag("--idle", "open the connections, report, and hold them until input ends",
                    options.idle);
  command_line.parse(argc, argv);
  const std::optional<sockaddr_in> address = loopback_address(options.host, options.port);
  if (!address) command_line.fail("--host must be a loopback IPv4 address (127.x.x.x)");
  try {
    common::install_stop_handlers();
    // Each connection is a descriptor; the default soft limit is often 1024.
    if (common::raise_descriptor_limit() < options.connections + 16) {
      throw std::runtime_error("the descriptor limit (ulimit -n) is too low for " +
                               std::to_string(options.connections) + " connections");
    }
    LoadClient client(options, *address);
    return client.run() == 0 ? 0 : 1;
  } catch (const std::exception& error) {
    std::cerr << "echo_load: " << error.what() << '\n';
    return 1;
  }
}
