// Lesson 1's point, as a test: a blocking server serves one client at a time,
// so a second client waits, unanswered, until the first one leaves.

#include <gtest/gtest.h>

#include <string>

#include "common/net.hpp"
#include "tests/program.hpp"

namespace {

using namespace std::chrono_literals;
using test_support::connect_to;
using test_support::receive_exactly;
using test_support::send_all;

TEST(BlockingEchoServerTest, SecondClientWaitsUntilFirstLeaves) {
  test_support::Server server("blocking_echo_server");
  auto first = connect_to(server.port());
  const std::string first_name = common::local_name(first.get());
  send_all(first.get(), "first\n");
  ASSERT_EQ(receive_exactly(first.get(), 6), "first\n");

  // The kernel completes the second client's handshake and keeps what it
  // sends, but the server is busy in recv() on the first one.
  const auto second = connect_to(server.port());
  const std::string second_name = common::local_name(second.get());
  send_all(second.get(), "second\n");
  // The one fixed window in the suites: "no reply" is what is asserted, and
  // it cannot be waited for. A server that serves clients at once replies
  // within microseconds, so a short window is enough to tell.
  EXPECT_FALSE(test_support::wait_readable(second.get(), 300ms));

  first.reset();
  EXPECT_EQ(receive_exactly(second.get(), 7), "second\n");
  // The output tells the same story: the second connection is accepted
  // only after the first one closed.
  EXPECT_EQ(server.program().read_line(), "connection from " + first_name);
  EXPECT_EQ(server.program().read_line(), "connection from " + first_name + " closed");
  EXPECT_EQ(server.program().read_line(), "connection from " + second_name);
  EXPECT_EQ(server.stop(), 0) << server.program().error_output();
}

}  // namespace
