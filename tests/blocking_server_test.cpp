// Lesson 1's point, as a test: a blocking server serves one client at a time,
// so a second client waits, unanswered, until the first one leaves. Then how
// a stop reaches a call that blocks (common::ShutDownOnStop), also when the
// signal lands just before the call begins.

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <string>

#include "common/net.hpp"
#include "common/stop_signal.hpp"
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

// These raise stop signals in the test process itself: raise() returns once
// the handler has run, which is a signal that lands "just before" the next
// call. A stop cannot be taken back, so each case holds whether or not an
// earlier one has already stopped this process. Sockets stay blocking, as
// lesson 1's are; poll() with no timeout tells whether a call would block.
class ShutDownOnStopTest : public testing::Test {
 protected:
  void SetUp() override {
    common::install_stop_handlers();
    listener_ = common::listen_tcp("127.0.0.1", 0);
    client_ = connect_to(port());
    server_side_ = common::FileDescriptor(accept(listener_.get(), nullptr, nullptr));
    ASSERT_TRUE(server_side_);
  }

  std::uint16_t port() const { return test_support::port_of(listener_.get()); }

  // Whether a recv() or an accept() on fd would return at once.
  static bool returns_at_once(int fd) {
    pollfd entry{fd, POLLIN, 0};
    return poll(&entry, 1, 0) == 1;
  }

  common::FileDescriptor listener_;
  common::FileDescriptor client_;
  common::FileDescriptor server_side_;
};

TEST_F(ShutDownOnStopTest, AStopJustBeforeRecvMakesItReturnAtOnceWithNothing) {
  const common::ShutDownOnStop stop_ends_recv(server_side_.get());
  ASSERT_EQ(raise(SIGTERM), 0);
  ASSERT_TRUE(returns_at_once(server_side_.get()));
  char byte = 0;
  EXPECT_EQ(recv(server_side_.get(), &byte, 1, 0), 0);
  EXPECT_TRUE(common::stop_requested());
}

TEST_F(ShutDownOnStopTest, AStopJustBeforeAcceptMakesItFailAtOnce) {
  const common::ShutDownOnStop stop_ends_accept(listener_.get());
  ASSERT_EQ(raise(SIGINT), 0);
  ASSERT_TRUE(returns_at_once(listener_.get()));
  EXPECT_FALSE(common::FileDescriptor(accept(listener_.get(), nullptr, nullptr)));
}

// SIGHUP, which a closing terminal sends, is a stop too (unhandled, it would
// end this test process).
TEST_F(ShutDownOnStopTest, ASighupIsAStopToo) {
  const test_support::SighupDisposition handled_here(SIG_DFL);
  common::install_stop_handlers();
  const common::ShutDownOnStop stop_ends_recv(server_side_.get());
  ASSERT_EQ(raise(SIGHUP), 0);
  EXPECT_TRUE(common::stop_requested());
  EXPECT_TRUE(returns_at_once(server_side_.get()));
  EXPECT_TRUE(returns_at_once(common::stop_fd()));
}

TEST_F(ShutDownOnStopTest, AStopThatCameBeforeShutsTheSocketDownAtOnce) {
  ASSERT_EQ(raise(SIGTERM), 0);
  const common::ShutDownOnStop stop_ends_recv(server_side_.get());
  EXPECT_TRUE(returns_at_once(server_side_.get()));
}

// Lesson 1's server() names its listener, and client() the connection it
// serves: a stop while client() runs must reach the listener once it returns.
TEST_F(ShutDownOnStopTest, AStopWhileTheInnerOneLivesReachesTheOuterSocketWhenItEnds) {
  const common::ShutDownOnStop stop_ends_accept(listener_.get());
  {
    const common::ShutDownOnStop stop_ends_recv(server_side_.get());
    ASSERT_EQ(raise(SIGTERM), 0);
    EXPECT_TRUE(returns_at_once(server_side_.get()));
  }
  EXPECT_TRUE(returns_at_once(listener_.get()));
}

// Once it ends, its socket may close and the number go to another: a stop
// must leave that one alone.
TEST_F(ShutDownOnStopTest, AfterItEndsAStopLeavesTheDescriptorNumberAlone) {
  const int number = server_side_.get();
  { const common::ShutDownOnStop stop_ends_recv(number); }
  server_side_.reset();
  const common::FileDescriptor another = connect_to(port());
  ASSERT_EQ(another.get(), number) << "the number was not reused";
  ASSERT_EQ(raise(SIGTERM), 0);
  EXPECT_FALSE(returns_at_once(another.get()));
}

}  // namespace
