// echo_load, the load client behind scripts/bench.sh: it counts what it
// sends, and it notices when an echo comes back wrong.

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <thread>

#include "common/net.hpp"
#include "tests/program.hpp"

namespace {

using namespace std::chrono_literals;

// One connection's worth of a broken echo server: it sends everything back
// but changes the 100th byte, the way a buggy buffer would.
class CorruptingEchoServer {
 public:
  CorruptingEchoServer() : listener_(common::listen_tcp("127.0.0.1", 0)) {
    port_ = test_support::port_of(listener_.get());
    thread_ = std::thread([this] { serve_one_client(); });
  }
  ~CorruptingEchoServer() { thread_.join(); }

  std::uint16_t port() const { return port_; }

 private:
  void serve_one_client() {
    if (!test_support::wait_readable(listener_.get(), 10s)) return;
    const common::FileDescriptor client(accept(listener_.get(), nullptr, nullptr));
    std::size_t echoed = 0;
    char buffer[4096];
    while (test_support::wait_readable(client.get(), 10s)) {
      const ssize_t received = recv(client.get(), buffer, sizeof buffer, 0);
      if (received <= 0) return;
      std::string bytes(buffer, static_cast<std::size_t>(received));
      if (echoed <= 99 && 99 < echoed + bytes.size()) bytes[99 - echoed] ^= 1;
      echoed += bytes.size();
      if (send(client.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL) < 0) return;
    }
  }

  common::FileDescriptor listener_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

TEST(EchoLoadTest, CountsEveryMessageAndFindsNoErrorsAgainstACorrectServer) {
  test_support::Server server("async_echo_server");
  const auto result = test_support::run_program(
      "echo_load", {"--port", std::to_string(server.port()), "--connections", "5", "--size", "300",
                    "--messages", "1003", "--duration-ms", "20000"});
  EXPECT_EQ(result.exit_code, 0) << result.error;
  EXPECT_NE(result.output.find("connections: 5 (300-byte messages)\n"), std::string::npos)
      << result.output;
  EXPECT_NE(result.output.find("messages: 1003\n"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("errors: 0\n"), std::string::npos) << result.output;
  EXPECT_EQ(server.stop(), 0);
}

TEST(EchoLoadTest, CountsExactlyWhenConnectionsPauseBetweenMessages) {
  test_support::Server server("async_echo_server");
  const auto result = test_support::run_program(
      "echo_load", {"--port", std::to_string(server.port()), "--connections", "3", "--messages",
                    "31", "--think-time-us", "1000", "--duration-ms", "20000"});
  EXPECT_EQ(result.exit_code, 0) << result.error;
  EXPECT_NE(result.output.find("messages: 31\n"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("errors: 0\n"), std::string::npos) << result.output;
  EXPECT_EQ(server.stop(), 0);
}

TEST(EchoLoadTest, ReportsAChangedByteAndExitsWithAnError) {
  CorruptingEchoServer server;
  const auto result = test_support::run_program(
      "echo_load", {"--port", std::to_string(server.port()), "--size", "64", "--messages", "10"});
  EXPECT_EQ(result.exit_code, 1);
  // Byte 99 of the stream is byte 35 of the second message (number 1).
  EXPECT_NE(result.error.find("byte 35 of message 1 came back changed"), std::string::npos)
      << result.error;
  EXPECT_NE(result.output.find("errors: 1\n"), std::string::npos) << result.output;
}

TEST(EchoLoadTest, IdleModeHoldsItsConnectionsUntilInputEnds) {
  test_support::Server server("async_echo_server");
  test_support::Program load(
      "echo_load", {"--port", std::to_string(server.port()), "--connections", "20", "--idle",
                    "--duration-ms", "60000"});  // only the end of input can end it in time
  EXPECT_EQ(load.read_line(), "holding 20 idle connections");
  // Every connection was echoed once before the report, so the server has
  // accepted all of them.
  for (int i = 0; i < 20; ++i) {
    const auto line = server.program().read_line();
    ASSERT_TRUE(line.has_value());
    EXPECT_TRUE(line->starts_with("connection from ")) << *line;
  }
  load.close_input();
  EXPECT_EQ(load.wait_for_exit(5s), 0) << load.error_output();
  EXPECT_EQ(load.read_remaining_output(), "connections: 20\nerrors: 0\n");
  EXPECT_EQ(server.stop(), 0);
}

}  // namespace
