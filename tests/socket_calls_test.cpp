// The socket calls the event-loop lessons make through common/net.hpp: what
// each returns for data, for "nothing yet", for a closed or broken
// connection, how common::accept_client() copes with running out of
// descriptors, and the descriptor limit lesson 2 lowers.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstddef>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "common/net.hpp"
#include "tests/program.hpp"

namespace {

using test_support::port_of;

// A non-blocking listener on a free loopback port.
common::FileDescriptor make_listener() {
  common::FileDescriptor listener = common::listen_tcp("127.0.0.1", 0);
  common::set_nonblocking(listener.get());
  return listener;
}

class SocketCallsTest : public testing::Test {
 protected:
  // A send to a closed peer must fail with EPIPE here, not kill the test.
  SocketCallsTest() { std::signal(SIGPIPE, SIG_IGN); }

  char buffer_[64] = {};
};

TEST_F(SocketCallsTest, ReceiveSomeReturnsTheBytesThatCame) {
  const test_support::SocketPair sockets = test_support::make_socket_pair();
  ASSERT_EQ(send(sockets.theirs.get(), "hello", 5, 0), 5);
  EXPECT_EQ(common::receive_some(sockets.ours.get(), buffer_), 5u);
  EXPECT_EQ(std::string(buffer_, 5), "hello");
}

TEST_F(SocketCallsTest, ReceiveSomeReturnsZeroWhenNothingHasComeYet) {
  const test_support::SocketPair sockets = test_support::make_socket_pair();
  EXPECT_EQ(common::receive_some(sockets.ours.get(), buffer_), 0u);
}

TEST_F(SocketCallsTest, ReceiveSomeReturnsNothingOnceThePeerHasClosed) {
  test_support::SocketPair sockets = test_support::make_socket_pair();
  sockets.theirs.reset();
  EXPECT_EQ(common::receive_some(sockets.ours.get(), buffer_), std::nullopt);
}

TEST_F(SocketCallsTest, SendSomeReturnsZeroOnceTheSocketBufferIsFull) {
  const test_support::SocketPair sockets = test_support::make_socket_pair();
  const std::vector<char> block(64 * 1024, 'x');
  // The peer never reads, so its buffer fills within a few megabytes.
  std::optional<std::size_t> sent;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    sent = common::send_some(sockets.ours.get(), block);
    if (sent != block.size()) break;
  }
  ASSERT_TRUE(sent.has_value());
  // A last partial send may come first; the one after it takes nothing.
  if (*sent != 0) sent = common::send_some(sockets.ours.get(), block);
  EXPECT_EQ(sent, 0u);
}

TEST_F(SocketCallsTest, SendSomeReturnsNothingWhenThePeerIsGone) {
  test_support::SocketPair sockets = test_support::make_socket_pair();
  sockets.theirs.reset();
  EXPECT_EQ(common::send_some(sockets.ours.get(), std::string("late")), std::nullopt);
}

TEST_F(SocketCallsTest, AcceptClientReturnsNothingWhenNoClientWaits) {
  const common::FileDescriptor listener = make_listener();
  EXPECT_FALSE(common::accept_client(listener.get()).has_value());
}

TEST_F(SocketCallsTest, AcceptClientReturnsANonBlockingConnection) {
  const common::FileDescriptor listener = make_listener();
  const common::FileDescriptor client = test_support::connect_to(port_of(listener.get()));
  ASSERT_TRUE(test_support::wait_readable(listener.get(), std::chrono::seconds(10)));
  const std::optional<common::FileDescriptor> connection = common::accept_client(listener.get());
  ASSERT_TRUE(connection.has_value());
  EXPECT_NE(fcntl(connection->get(), F_GETFL) & O_NONBLOCK, 0);
}

TEST_F(SocketCallsTest, AcceptClientTurnsAClientAwayWhenOutOfDescriptors) {
  const common::FileDescriptor listener = make_listener();
  const common::FileDescriptor refused = test_support::connect_to(port_of(listener.get()));
  ASSERT_TRUE(test_support::wait_readable(listener.get(), std::chrono::seconds(10)));

  // The lowest free descriptor number becomes the limit: no new descriptor
  // can be made until the limit is restored.
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  const int lowest_free = dup(listener.get());
  ASSERT_GE(lowest_free, 0);
  close(lowest_free);
  rlimit tight = saved;
  tight.rlim_cur = static_cast<rlim_t>(lowest_free);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &tight), 0);
  const std::optional<common::FileDescriptor> connection = common::accept_client(listener.get());
  const bool listener_still_readable = test_support::wait_readable(listener.get(), {});
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);

  EXPECT_FALSE(connection.has_value());
  // The client was taken off the queue, so the loop will not spin on it...
  EXPECT_FALSE(listener_still_readable);
  // ...and it was closed: the client reads the end of the stream.
  ASSERT_TRUE(test_support::wait_readable(refused.get(), std::chrono::seconds(10)));
  EXPECT_EQ(recv(refused.get(), buffer_, sizeof buffer_, 0), 0);

  // With descriptors to spare again, the next client is accepted.
  const common::FileDescriptor next = test_support::connect_to(port_of(listener.get()));
  ASSERT_TRUE(test_support::wait_readable(listener.get(), std::chrono::seconds(10)));
  EXPECT_TRUE(common::accept_client(listener.get()).has_value());
}

TEST_F(SocketCallsTest, LowerDescriptorLimitKeepsNewDescriptorsBelowItAndNeverRaisesIt) {
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  const int lowest_free = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(lowest_free, 0);
  close(lowest_free);

  common::lower_descriptor_limit(lowest_free + 1);
  const common::FileDescriptor last(open("/dev/null", O_RDONLY | O_CLOEXEC));
  const common::FileDescriptor beyond(open("/dev/null", O_RDONLY | O_CLOEXEC));
  const int beyond_error = errno;
  common::lower_descriptor_limit(lowest_free + 100);
  rlimit after{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &after), 0);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);

  EXPECT_EQ(last.get(), lowest_free);
  EXPECT_FALSE(beyond);
  EXPECT_EQ(beyond_error, EMFILE);
  EXPECT_EQ(after.rlim_cur, static_cast<rlim_t>(lowest_free + 1));
}

}  // namespace
