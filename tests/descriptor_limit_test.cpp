// Lesson 6's echo server at its descriptor limit: a flood of clients that
// connect before any of them speaks, more than the server has descriptors
// for. Those it cannot hold it turns away at once; the others are echoed, and
// so is a newcomer once one of them leaves.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/net.hpp"
#include "tests/program.hpp"

namespace {

using namespace std::chrono_literals;
using test_support::connect_to;
using test_support::receive_exactly;
using testing::HasSubstr;

// Sends a line and reads as much back: the echo, or "" when the server
// closed the connection without reading (a client it turned away).
std::string echo_of(int fd, const std::string& line) {
  if (send(fd, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
    return "";
  }
  return receive_exactly(fd, line.size(), 10s);
}

// Whether the program prints `line` among its next `most` lines.
bool said(test_support::Program& program, const std::string& line, int most) {
  for (int i = 0; i < most; ++i) {
    const std::optional<std::string> next = program.read_line();
    if (!next) return false;
    if (*next == line) return true;
  }
  return false;
}

TEST(AsyncEchoServerAtItsDescriptorLimit, TurnsAwayAFloodItCannotHoldAndEchoesTheRest) {
  constexpr int limit = 64;
  constexpr int flood = 100;
  test_support::Server server("async_echo_server", {}, {.limit = limit});
  // A first client, echoed before the flood. UndefinedBehaviorSanitizer
  // checks each class the first time it meets it, reading its vtable through
  // a pipe it opens for that: out of descriptors it cannot, and it reports an
  // "invalid vptr" that is not there. This echo has it meet, while
  // descriptors remain, every class that the flood's echoes use.
  const common::FileDescriptor first = connect_to(server.port());
  ASSERT_EQ(echo_of(first.get(), "first\n"), "first\n");

  std::vector<common::FileDescriptor> clients;
  for (int i = 0; i < flood; ++i)
    clients.push_back(connect_to(server.port()));
  // The server takes them in turn; once it has closed the last one, it has
  // taken every other, and holds all the clients it can before anyone speaks.
  ASSERT_TRUE(test_support::wait_readable(clients.back().get(), 10s));
  char byte = 0;
  ASSERT_LE(recv(clients.back().get(), &byte, 1, 0), 0) << "the last client was not turned away";
  std::vector<common::FileDescriptor> served;
  for (std::size_t i = 0; i < clients.size(); ++i) {
    const std::string line = "client " + std::to_string(i) + "\n";
    const std::string reply = echo_of(clients[i].get(), line);
    ASSERT_TRUE(reply == line || reply.empty()) << "client " << i << " got '" << reply << "'";
    if (!reply.empty()) served.push_back(std::move(clients[i]));
  }
  ASSERT_GT(served.size(), 0u) << server.program().error_output();
  EXPECT_LT(served.size(), clients.size()) << "no client was turned away";

  // Still serving: every client it holds, and a newcomer once one has left.
  for (const common::FileDescriptor& client : served)
    EXPECT_EQ(echo_of(client.get(), "still here\n"), "still here\n");
  const std::string leaving = common::local_name(served.back().get());
  served.pop_back();
  ASSERT_TRUE(said(server.program(), "connection from " + leaving + " closed", flood + 10));
  const common::FileDescriptor newcomer = connect_to(server.port());
  EXPECT_EQ(echo_of(newcomer.get(), "room for me?\n"), "room for me?\n");
  EXPECT_EQ(echo_of(first.get(), "first again\n"), "first again\n");

  ASSERT_EQ(server.stop(), 0) << server.program().error_output();
  EXPECT_THAT(server.program().error_output(), HasSubstr("turning a client away"));
  EXPECT_THAT(server.program().error_output(), testing::Not(HasSubstr("runtime error")));
}

}  // namespace
