// The echo conformance suite: every echo server of the course (listed in
// tests/echo_servers.hpp) goes through the same cases. Each case starts its
// own server on a free port, talks to it over loopback, and stops it with
// SIGTERM expecting exit code 0. Every wait is bounded.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/select.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <future>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.hpp"
#include "tests/echo_servers.hpp"
#include "tests/program.hpp"

namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;
using echo_servers::EchoServer;
using test_support::connect_to;
using test_support::receive_exactly;
using test_support::send_all;
using Clock = std::chrono::steady_clock;

constexpr std::size_t mebibyte = 1024 * 1024;
// Bulk transfers are slow under the sanitizers on a busy machine; this bound
// only has to end a case that hangs.
constexpr std::chrono::milliseconds bulk_timeout = 60s;

// Pseudo-random bytes from a fixed seed: zero bytes and every other value
// occur, and a failure replays the same way on every machine.
std::string random_bytes(std::size_t count, std::uint32_t seed) {
  std::mt19937 random(seed);
  std::string bytes(count, '\0');
  std::uint32_t word = 0;
  for (std::size_t i = 0; i < count; ++i) {
    if (i % 4 == 0) word = random();
    bytes[i] = static_cast<char>(word >> (8 * (i % 4)));
  }
  return bytes;
}

// What a flooding client sends: made once, shared by every case.
const std::string& flood_bytes() {
  static const std::string bytes = random_bytes(64 * mebibyte, 64);
  return bytes;
}

// FNV-1a: comparing megabytes by checksum keeps a failure message short.
std::uint64_t checksum(std::string_view bytes) {
  std::uint64_t hash = 14695981039346656037u;
  for (const char c : bytes) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211u;
  }
  return hash;
}

int milliseconds_until(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<std::chrono::milliseconds::rep>(left.count(), 0));
}

// Writes `bytes` in chunks of random size while reading the echo as it comes
// back, from one thread with poll(): neither direction can fill up and stall
// the other. Returns what came back once it is as long as what was sent, or
// when the server closed, or when the timeout passed.
std::string echo_in_random_chunks(int fd, std::string_view bytes, std::uint32_t seed,
                                  std::chrono::milliseconds timeout) {
  common::set_nonblocking(fd);
  std::mt19937 random(seed);
  std::uniform_int_distribution<std::size_t> chunk_size(1, 64 * 1024);
  const auto deadline = Clock::now() + timeout;
  std::string received;
  std::size_t sent = 0;
  char buffer[65536];
  while (received.size() < bytes.size() && Clock::now() < deadline) {
    const bool more_to_send = sent < bytes.size();
    pollfd watch{fd, static_cast<short>(POLLIN | (more_to_send ? POLLOUT : 0)), 0};
    if (poll(&watch, 1, milliseconds_until(deadline)) <= 0) continue;  // EINTR or timeout
    if ((watch.revents & POLLOUT) != 0) {
      const std::size_t size = std::min(chunk_size(random), bytes.size() - sent);
      const ssize_t count = send(fd, bytes.data() + sent, size, MSG_NOSIGNAL);
      if (count < 0 && errno != EAGAIN && errno != EINTR) break;
      if (count > 0) sent += static_cast<std::size_t>(count);
    }
    if ((watch.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      const ssize_t count = recv(fd, buffer, sizeof buffer, 0);
      if (count == 0 || (count < 0 && errno != EAGAIN && errno != EINTR)) break;
      if (count > 0) received.append(buffer, static_cast<std::size_t>(count));
    }
  }
  return received;
}

// How long a flooding client waits for its socket to turn writable before it
// concludes that the server has stopped reading from it. "Nothing happens"
// has no event to wait on, so this is a window; it only decides when the
// flood ends, never whether a case passes.
constexpr std::chrono::milliseconds stall_window = 1s;

// Sends `bytes` and never reads, until all are sent or the server stops
// taking more (the socket stays unwritable for stall_window). Returns how
// many bytes went out.
std::size_t send_without_reading(int fd, std::string_view bytes) {
  common::set_nonblocking(fd);
  const auto deadline = Clock::now() + bulk_timeout;
  std::size_t sent = 0;
  while (sent < bytes.size() && Clock::now() < deadline) {
    pollfd watch{fd, POLLOUT, 0};
    const int ready = poll(&watch, 1, static_cast<int>(stall_window.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) break;
    const ssize_t count = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (count < 0 && errno != EAGAIN && errno != EINTR) break;
    if (count > 0) sent += static_cast<std::size_t>(count);
  }
  return sent;
}

// A client that sends `size` bytes, reads back only the first `read_back` of
// them, then resets its connection: SO_LINGER {on, 0 seconds} makes close()
// send a reset (RST) instead of an orderly FIN, as when a client crashes or
// its network goes away. Returns the client's name, as the server prints it.
std::string connect_and_reset(std::uint16_t port, std::size_t size, std::size_t read_back) {
  auto client = connect_to(port);
  const std::string name = common::local_name(client.get());
  const std::string_view bytes = std::string_view(flood_bytes()).substr(0, size);
  send_without_reading(client.get(), bytes);
  EXPECT_EQ(receive_exactly(client.get(), read_back), bytes.substr(0, read_back));
  const linger reset_on_close{1, 0};
  EXPECT_EQ(setsockopt(client.get(), SOL_SOCKET, SO_LINGER, &reset_on_close, sizeof reset_on_close),
            0);
  client.reset();
  return name;
}

// A client that has read back all it sent is reset while the server waits in
// recv() for more; one that has sent until the server stopped reading from it
// is reset while the server waits to send it the rest of its echo. Either way
// the server must close that connection and no other.
constexpr std::size_t reset_after_sending[] = {1024, 64 * mebibyte};

// One field of /proc/PID/status, such as "VmRSS:     3512 kB", in KiB.
long memory_kib(pid_t pid, std::string_view field) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with(field) && line.size() > field.size() && line[field.size()] == ':') {
      return std::stol(line.substr(field.size() + 1));
    }
  }
  ADD_FAILURE() << "no " << field << " in /proc/" << pid << "/status";
  return 0;
}

// Reads the server's output until the expected line (true), or the timeout.
// Other lines may come first: with clients served at once, their connection
// lines interleave.
bool prints_line(test_support::Program& program, std::string_view expected,
                 std::chrono::milliseconds timeout = 10s) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    const auto line = program.read_line(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
    if (!line) return false;
    if (*line == expected) return true;
  }
  return false;
}

// One small message there and back, as the proof that a client is served.
void expect_echo(int fd, std::string_view message) {
  send_all(fd, message);
  EXPECT_EQ(receive_exactly(fd, message.size()), message);
}

// The clients a server served, and whether it turned one away.
struct Crowd {
  std::vector<common::FileDescriptor> served;
  bool one_turned_away = false;
};

// Connects clients one at a time, each sending a line, until the server turns
// one away (it closes that connection rather than echo the line or keep the
// client waiting), or until `most` have come. Returns the clients it served.
Crowd connect_until_one_is_turned_away(std::uint16_t port, int most) {
  Crowd crowd;
  for (int i = 0; i < most && !crowd.one_turned_away; ++i) {
    common::FileDescriptor client = connect_to(port);
    send_all(client.get(), "knock\n");
    const std::string reply = receive_exactly(client.get(), 6);
    if (reply == "knock\n") {
      crowd.served.push_back(std::move(client));
      continue;
    }
    // The end of the stream, or a reset: the server closed with our line unread.
    char byte;
    const ssize_t after = recv(client.get(), &byte, 1, MSG_DONTWAIT);
    EXPECT_TRUE(reply.empty() && (after == 0 || (after < 0 && errno == ECONNRESET)))
        << "client " << i << " got '" << reply << "' and is not closed";
    crowd.one_turned_away = true;
  }
  return crowd;
}

class EchoServerTest : public echo_servers::EachServerTest {
 protected:
  void SetUp() override {
    EachServerTest::SetUp();
    if (!IsSkipped()) server_.emplace(GetParam().program, GetParam().extra_arguments);
  }

  // SIGTERM must end the server with exit code 0. Under the sanitizers a
  // report also ends it with another code; its standard error says why.
  void TearDown() override {
    if (server_) {
      EXPECT_EQ(server_->stop(bulk_timeout), 0) << server_->program().error_output();
    }
  }

  std::uint16_t port() const { return server_->port(); }
  test_support::Program& program() { return server_->program(); }
  int stop() { return server_->stop(bulk_timeout); }

 private:
  std::optional<test_support::Server> server_;  // none where it cannot run
};

// The cases with several clients served at the same time, for lessons 2+.
class ConcurrentEchoServerTest : public EchoServerTest {};

TEST_P(EchoServerTest, EchoesTextLines) {
  const auto client = connect_to(port());
  for (const std::string_view line : {"hello\n", "a second line, a little longer\n", "x\n"})
    expect_echo(client.get(), line);
}

TEST_P(EchoServerTest, EchoesBinaryDataWithZeroBytes) {
  const auto client = connect_to(port());
  expect_echo(client.get(), "\0\0zero\0bytes\xff\n\0"s);
  expect_echo(client.get(), random_bytes(4096, 1));
}

TEST_P(EchoServerTest, EchoesAnEmptyLine) {
  const auto client = connect_to(port());
  expect_echo(client.get(), "\n");
  expect_echo(client.get(), "after the empty line\n");
}

TEST_P(EchoServerTest, EchoesOneByteWritesOneAtATime) {
  const auto client = connect_to(port());
  // Without Nagle's algorithm every 1-byte send leaves at once, so the
  // server really receives one byte at a time.
  const int yes = 1;
  ASSERT_EQ(setsockopt(client.get(), IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes), 0);
  for (int value = 0; value < 256; ++value) {
    const std::string byte(1, static_cast<char>(value));
    send_all(client.get(), byte);
    ASSERT_EQ(receive_exactly(client.get(), 1), byte) << "byte " << value;
  }
}

TEST_P(EchoServerTest, EchoesEightMebibytesWrittenInRandomChunksUnchanged) {
  const auto client = connect_to(port());
  const std::string stream = random_bytes(8 * mebibyte, 8);
  const std::string echoed = echo_in_random_chunks(client.get(), stream, 42, bulk_timeout);
  EXPECT_EQ(echoed.size(), stream.size());
  EXPECT_EQ(checksum(echoed), checksum(stream));
}

// The contract: a client that sends without reading must not make the server
// hold all it sent; the server's resident memory stays under 64 MiB.
//
// We measure the growth of the peak resident size (VmHWM) over the resident
// size right after startup, because under AddressSanitizer the baseline is
// larger (shadow memory, allocator caches) and freed blocks stay resident in
// its quarantine instead of being reused. A server that stops reading at its
// cap holds that cap plus what it had already read when the kernel buffers
// towards the silent client filled (a few MiB); even with every one of its
// buffers quarantined its growth stays far below 32 MiB. A server without a
// cap reads nearly all of the 64 MiB and grows by more than 50 MiB. 32 MiB
// separates the two in both builds.
// A client sends everything, shuts down its sending side, and only then
// reads: the server must send back all it received, then close. (On loopback
// the kernel's buffers may take the whole echo, so this does not prove that
// echo still pending inside the server survives the end of input.)
TEST_P(EchoServerTest, FinishesTheEchoAfterTheClientShutsDownItsSendingSide) {
  const auto client = connect_to(port());
  // A small receive buffer, so that more of the echo waits on the server's side.
  const int small = 16 * 1024;
  ASSERT_EQ(setsockopt(client.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
  const std::string sent = random_bytes(512 * 1024, 4);
  std::future<void> written = std::async(std::launch::async, [&] {
    send_all(client.get(), sent);
    shutdown(client.get(), SHUT_WR);
  });
  // Servers that stop reading while they owe an echo (lessons 1, 4-6) may
  // not take it all before we read: then we read while it is still written.
  written.wait_for(1s);
  // One byte more than sent: it returns at the server's close, not before.
  const std::string echoed = receive_exactly(client.get(), sent.size() + 1, bulk_timeout);
  written.get();
  EXPECT_EQ(echoed.size(), sent.size());
  EXPECT_TRUE(echoed == sent) << "the echo differs from what was sent";
  char after;
  EXPECT_EQ(recv(client.get(), &after, 1, MSG_DONTWAIT), 0) << "the server did not close";
}

TEST_P(EchoServerTest, KeepsMemoryBoundedWhileAClientSendsWithoutReading) {
  const pid_t pid = program().pid();
  const long baseline_kib = memory_kib(pid, "VmRSS");
  const auto flooder = connect_to(port());
  const std::string_view flood = flood_bytes();
  const std::size_t sent = send_without_reading(flooder.get(), flood);

  const long growth_kib = memory_kib(pid, "VmHWM") - baseline_kib;
  EXPECT_LT(growth_kib, 32 * 1024) << "the client had sent " << sent << " bytes";

  // Once the client reads, the server resumes and nothing it held is lost.
  const std::string echoed = receive_exactly(flooder.get(), sent, bulk_timeout);
  EXPECT_EQ(echoed.size(), sent);
  EXPECT_EQ(checksum(echoed), checksum(flood.substr(0, sent)));
}

TEST_P(EchoServerTest, ServesTheNextClientAfterClientsResetTheirConnections) {
  for (const std::size_t size : reset_after_sending) {
    const std::string name = connect_and_reset(port(), size, 1024);
    EXPECT_TRUE(prints_line(program(), "connection from " + name + " closed")) << size << " bytes";
  }
  const auto next = connect_to(port());
  expect_echo(next.get(), "next, please\n");
}

TEST_P(EchoServerTest, AnnouncesEachConnectionAndItsCloseOnce) {
  auto client = connect_to(port());
  const std::string name = common::local_name(client.get());
  EXPECT_EQ(program().read_line(), "connection from " + name);
  expect_echo(client.get(), "hi\n");
  client.reset();
  EXPECT_EQ(program().read_line(), "connection from " + name + " closed");
  ASSERT_EQ(stop(), 0);
  EXPECT_EQ(program().read_remaining_output(), "");
}

TEST_P(ConcurrentEchoServerTest, EchoesEachOfAHundredClientsItsOwnBytes) {
  constexpr int client_count = 100;
  std::vector<common::FileDescriptor> clients;
  for (int i = 0; i < client_count; ++i)
    clients.push_back(connect_to(port()));

  // Each round every client sends a message of its own, in a shuffled order,
  // before any of them reads; then each must get back exactly its own.
  std::mt19937 random(100);
  std::uniform_int_distribution<std::size_t> size(1, 2000);
  std::vector<int> order(client_count);
  for (int i = 0; i < client_count; ++i)
    order[static_cast<std::size_t>(i)] = i;
  for (int round = 0; round < 5; ++round) {
    std::vector<std::string> messages;
    for (int i = 0; i < client_count; ++i) {
      messages.push_back("client " + std::to_string(i) + " round " + std::to_string(round) + ":" +
                         random_bytes(size(random), static_cast<std::uint32_t>(round * 1000 + i)));
    }
    std::shuffle(order.begin(), order.end(), random);
    for (const int i : order)
      send_all(clients[static_cast<std::size_t>(i)].get(), messages[static_cast<std::size_t>(i)]);
    for (const int i : order) {
      const std::string& message = messages[static_cast<std::size_t>(i)];
      ASSERT_EQ(receive_exactly(clients[static_cast<std::size_t>(i)].get(), message.size()),
                message)
          << "client " << i << ", round " << round;
    }
  }
}

TEST_P(ConcurrentEchoServerTest, EchoesOtherClientsWhileOneSendsWithoutReading) {
  const auto flooder = connect_to(port());
  send_without_reading(flooder.get(), flood_bytes());
  const auto other = connect_to(port());
  expect_echo(other.get(), "am I still served?\n");
}

TEST_P(ConcurrentEchoServerTest, LeavesOtherClientsAloneWhenClientsResetTheirConnections) {
  const auto bystander = connect_to(port());
  expect_echo(bystander.get(), "before\n");
  // Sent, not yet read back: it must survive the other clients' resets.
  send_all(bystander.get(), "during\n");

  for (const std::size_t size : reset_after_sending) {
    const std::string name = connect_and_reset(port(), size, 1024);
    EXPECT_TRUE(prints_line(program(), "connection from " + name + " closed")) << size << " bytes";
  }

  EXPECT_EQ(receive_exactly(bystander.get(), 7), "during\n");
  expect_echo(bystander.get(), "after\n");
  const auto newcomer = connect_to(port());
  expect_echo(newcomer.get(), "hello\n");
}

// A server that runs out of descriptors closes the next client at once
// (common::accept_client()): it cannot leave it queued, as the listener
// would then stay ready and the loop would spin.
class OutOfDescriptorsTest : public echo_servers::EachServerTest {};

TEST_P(OutOfDescriptorsTest, TurnsAClientAwayKeepsServingTheOthersAndServesANewcomerOnceOneLeft) {
  // Room for a few clients, whatever the server keeps open for itself.
  constexpr int limit = 32;
  test_support::Server server(GetParam().program, GetParam().extra_arguments, {.limit = limit});
  Crowd crowd = connect_until_one_is_turned_away(server.port(), limit);
  ASSERT_TRUE(crowd.one_turned_away) << crowd.served.size() << " clients were all served";
  ASSERT_FALSE(crowd.served.empty());
  for (const common::FileDescriptor& client : crowd.served)
    expect_echo(client.get(), "still served\n");

  const std::string leaving = common::local_name(crowd.served.back().get());
  crowd.served.pop_back();
  EXPECT_TRUE(prints_line(server.program(), "connection from " + leaving + " closed"));
  const auto newcomer = connect_to(server.port());
  expect_echo(newcomer.get(), "room for me?\n");
  ASSERT_EQ(server.stop(), 0) << server.program().error_output();
  EXPECT_THAT(server.program().error_output(), testing::HasSubstr("turning a client away"));
}

// select() cannot watch a descriptor at or beyond FD_SETSIZE: lesson 2 turns
// away a client that would need one, even with descriptors to spare.
TEST(SelectEchoServerTest, TurnsAwayAClientWhoseDescriptorSelectCouldNotWatch) {
  if (!test_support::descriptor_limit_allows(2 * FD_SETSIZE))
    GTEST_SKIP() << "the hard descriptor limit is low";
  // Leaves the server about ten descriptors below FD_SETSIZE.
  test_support::Server server("select_echo_server", {},
                              {.inherited = FD_SETSIZE - 16, .limit = 2 * FD_SETSIZE});
  Crowd crowd = connect_until_one_is_turned_away(server.port(), 32);
  ASSERT_TRUE(crowd.one_turned_away) << crowd.served.size() << " clients were all served";
  for (const common::FileDescriptor& client : crowd.served)
    expect_echo(client.get(), "still served\n");
  EXPECT_EQ(server.stop(), 0) << server.program().error_output();
}

// The others have no such limit (lesson 3's epoll, and the lessons after it).
class BeyondFdSetsizeTest : public echo_servers::EachServerTest {};

TEST_P(BeyondFdSetsizeTest, ServesClientsWhoseDescriptorsAreBeyondFdSetsize) {
  if (!test_support::descriptor_limit_allows(2 * FD_SETSIZE))
    GTEST_SKIP() << "the hard descriptor limit is low";
  test_support::Server server(GetParam().program, GetParam().extra_arguments,
                              {.inherited = FD_SETSIZE, .limit = 2 * FD_SETSIZE});
  for (int i = 0; i < 3; ++i) {
    const auto client = connect_to(server.port());
    expect_echo(client.get(), "client " + std::to_string(i) + "\n");
  }
  EXPECT_EQ(server.stop(), 0) << server.program().error_output();
}

std::vector<EchoServer> without_select() {
  std::vector<EchoServer> servers = echo_servers::all();
  std::erase_if(servers,
                [](const EchoServer& server) { return server.program == "select_echo_server"; });
  return servers;
}

// Where io_uring is refused, lesson 7's cases of this suite and of
// server_start_and_stop_test.cpp skip, saying why; the run passes.
TEST(IoUringRefusedTest, LessonSevensCasesSkipSayingWhy) {
  echo_servers::expect_each_skipped_without_io_uring(
      "*/uring_echo_server",
      "uring_echo_server cannot run here: io_uring is refused (io_uring_setup: Operation not "
      "permitted)");
}

INSTANTIATE_TEST_SUITE_P(EchoServers, EchoServerTest, testing::ValuesIn(echo_servers::all()),
                         echo_servers::test_name);
INSTANTIATE_TEST_SUITE_P(
    EchoServers, ConcurrentEchoServerTest,
    testing::ValuesIn(echo_servers::all_that(&EchoServer::serves_clients_at_once)),
    echo_servers::test_name);

INSTANTIATE_TEST_SUITE_P(EchoServers, OutOfDescriptorsTest,
                         testing::ValuesIn(echo_servers::all_that(&EchoServer::turns_clients_away)),
                         echo_servers::test_name);
INSTANTIATE_TEST_SUITE_P(EchoServers, BeyondFdSetsizeTest, testing::ValuesIn(without_select()),
                         echo_servers::test_name);

}  // namespace
