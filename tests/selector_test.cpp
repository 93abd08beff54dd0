// The Selector of lesson 3, with each backend: what select() reports for a
// pair of connected sockets, and that dispatch() stays safe when callbacks
// change the registrations while it runs.
#include "3_async_with_callbacks/selector.hpp"

#include <gtest/gtest.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/net.hpp"
#include "tests/program.hpp"

namespace {

using namespace std::chrono_literals;
using lesson3::Backend;
using lesson3::event_read;
using lesson3::event_write;
using lesson3::EventMask;
using lesson3::ReadyEvent;

// Long enough never to be reached when the event is already there; a broken
// selector fails the test after it instead of hanging.
constexpr std::chrono::milliseconds wait_limit = 5s;

void write_byte(int fd) {
  ASSERT_EQ(::write(fd, "x", 1), 1);
}

// The events select() reports for fd, 0 when it reports none.
EventMask events_for(std::span<const ReadyEvent> ready, int fd) {
  EventMask events = 0;
  for (const ReadyEvent& event : ready) {
    if (event.fd == fd) events |= event.events;
  }
  return events;
}

class SelectorTest : public testing::TestWithParam<Backend> {
 protected:
  std::unique_ptr<lesson3::Selector> selector_ = lesson3::make_selector(GetParam());
};

TEST_P(SelectorTest, ReportsNothingWhenTheTimeoutPassesFirst) {
  test_support::SocketPair pair = test_support::make_socket_pair();
  selector_->register_fd(pair.ours.get(), event_read, [](EventMask) {});
  EXPECT_TRUE(selector_->select(0ms).empty());
  EXPECT_TRUE(selector_->select(10ms).empty());
}

TEST_P(SelectorTest, ReportsNothingWhenASignalInterruptsTheWait) {
  test_support::SocketPair pair = test_support::make_socket_pair();
  selector_->register_fd(pair.ours.get(), event_read, [](EventMask) {});
  // A handler installed without SA_RESTART makes the wait fail with EINTR,
  // as Ctrl-C does in the servers.
  struct sigaction action {};
  struct sigaction previous {};
  action.sa_handler = [](int) {};
  sigemptyset(&action.sa_mask);
  ASSERT_EQ(sigaction(SIGALRM, &action, &previous), 0);
  itimerval timer{};
  timer.it_value.tv_usec = 20'000;
  ASSERT_EQ(setitimer(ITIMER_REAL, &timer, nullptr), 0);
  std::size_t ready_count = 1;
  EXPECT_NO_THROW(ready_count = selector_->select(wait_limit).size());
  EXPECT_EQ(ready_count, 0u);
  sigaction(SIGALRM, &previous, nullptr);
}

TEST_P(SelectorTest, ReportsReadableOnceThePeerWrites) {
  test_support::SocketPair pair = test_support::make_socket_pair();
  selector_->register_fd(pair.ours.get(), event_read, [](EventMask) {});
  write_byte(pair.theirs.get());
  const auto ready = selector_->select(wait_limit);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].fd, pair.ours.get());
  EXPECT_EQ(ready[0].events, event_read);
}

TEST_P(SelectorTest, ReportsOnlyTheEventsItWasAskedFor) {
  test_support::SocketPair pair = test_support::make_socket_pair();
  write_byte(pair.theirs.get());  // ours is now readable, and writable as always
  selector_->register_fd(pair.ours.get(), event_write, [](EventMask) {});
  EXPECT_EQ(events_for(selector_->select(wait_limit), pair.ours.get()), event_write);
}

TEST_P(SelectorTest, ModifyChangesWhatIsReported) {
  test_support::SocketPair pair = test_support::make_socket_pair();
  selector_->register_fd(pair.ours.get(), event_read, [](EventMask) {});
  EXPECT_TRUE(selector_->select(0ms).empty());

  selector_->modify(pair.ours.get(), event_write);
  EXPECT_EQ(events_for(selector_->select(wait_limit), pair.ours.get()), event_write);

  write_byte(pair.theirs.get());
  selector_->modify(pair.ours.get(), event_read | event_write);
  EXPECT_EQ(events_for(selector_->select(wait_limit), pair.ours.get()), event_read | event_write);
}

TEST_P(SelectorTest, DescriptorWaitingForNothingIsNotReportedEvenAfterAHangUp) {
  test_support::SocketPair pair = test_support::make_socket_pair();
  selector_->register_fd(pair.ours.get(), event_read, [](EventMask) {});
  selector_->modify(pair.ours.get(), 0);
  pair.theirs.reset();
  EXPECT_TRUE(selector_->select(0ms).empty());

  selector_->modify(pair.ours.get(), event_read);
  EXPECT_EQ(events_for(selector_->select(wait_limit), pair.ours.get()), event_read);
}

TEST_P(SelectorTest, UnregisteredDescriptorIsNoLongerReported) {
  test_support::SocketPair pair = test_support::make_socket_pair();
  selector_->register_fd(pair.ours.get(), event_read, [](EventMask) {});
  selector_->unregister(pair.ours.get());
  write_byte(pair.theirs.get());
  EXPECT_TRUE(selector_->select(0ms).empty());
}

TEST_P(SelectorTest, DescriptorCanBeRegisteredAgainAfterUnregister) {
  test_support::SocketPair pair = test_support::make_socket_pair();
  selector_->register_fd(pair.ours.get(), event_write, [](EventMask) {});
  selector_->unregister(pair.ours.get());
  int calls = 0;
  selector_->register_fd(pair.ours.get(), event_write, [&calls](EventMask) { ++calls; });
  for (const ReadyEvent& event : selector_->select(wait_limit))
    selector_->dispatch(event);
  EXPECT_EQ(calls, 1);
}

TEST_P(SelectorTest, HangUpIsReportedAsReadable) {
  test_support::SocketPair pair = test_support::make_socket_pair();
  selector_->register_fd(pair.ours.get(), event_read, [](EventMask) {});
  pair.theirs.reset();
  EXPECT_EQ(events_for(selector_->select(wait_limit), pair.ours.get()), event_read);
  char byte = 0;
  EXPECT_EQ(::read(pair.ours.get(), &byte, 1), 0);  // what the callback finds: end of stream
}

TEST_P(SelectorTest, HangUpIsReportedAsWritableToADescriptorThatWaitsToWrite) {
  test_support::SocketPair pair = test_support::make_socket_pair();
  selector_->register_fd(pair.ours.get(), event_read | event_write, [](EventMask) {});
  pair.theirs.reset();
  EXPECT_EQ(events_for(selector_->select(wait_limit), pair.ours.get()), event_read | event_write);
}

TEST_P(SelectorTest, DispatchRunsTheCallbackWithTheReadyEvents) {
  test_support::SocketPair pair = test_support::make_socket_pair();
  std::vector<EventMask> calls;
  selector_->register_fd(pair.ours.get(), event_read | event_write,
                         [&calls](EventMask ready) { calls.push_back(ready); });
  write_byte(pair.theirs.get());
  for (const ReadyEvent& event : selector_->select(wait_limit))
    selector_->dispatch(event);
  EXPECT_EQ(calls, std::vector<EventMask>{event_read | event_write});
}

TEST_P(SelectorTest, DispatchRunsNothingForAStrangerOrForEventsNotAskedFor) {
  test_support::SocketPair pair = test_support::make_socket_pair();
  int calls = 0;
  selector_->register_fd(pair.ours.get(), event_read, [&calls](EventMask) { ++calls; });
  selector_->dispatch({pair.theirs.get(), event_read});
  selector_->dispatch({-1, event_read});
  selector_->dispatch({100000, event_read});
  selector_->dispatch({pair.ours.get(), event_write});
  EXPECT_EQ(calls, 0);
  selector_->dispatch({pair.ours.get(), event_read | event_write});
  EXPECT_EQ(calls, 1);
}

TEST_P(SelectorTest, CallbackThatUnregistersItselfKeepsItsStateUntilItReturns) {
  test_support::SocketPair pair = test_support::make_socket_pair();
  const int fd = pair.ours.get();
  std::vector<std::string> log;
  // A capture too large for std::function's inline storage lives on the heap,
  // so AddressSanitizer would catch a callback destroyed while it runs.
  const std::string label(100, 'a');
  selector_->register_fd(fd, event_write, [this, fd, &log, label](EventMask) {
    selector_->unregister(fd);
    log.push_back(label);
  });
  for (const ReadyEvent& event : selector_->select(wait_limit))
    selector_->dispatch(event);
  EXPECT_EQ(log, std::vector<std::string>{label});
  EXPECT_TRUE(selector_->select(0ms).empty());
}

TEST_P(SelectorTest, CallbackThatReregistersItselfRunsTheNewCallbackNextTime) {
  test_support::SocketPair pair = test_support::make_socket_pair();
  const int fd = pair.ours.get();
  std::vector<std::string> log;
  const std::string first(100, '1');
  const std::string second(100, '2');
  selector_->register_fd(fd, event_write, [this, fd, &log, first, second](EventMask) {
    selector_->unregister(fd);
    selector_->register_fd(fd, event_write, [&log, second](EventMask) { log.push_back(second); });
    log.push_back(first);
  });
  for (const ReadyEvent& event : selector_->select(wait_limit))
    selector_->dispatch(event);
  for (const ReadyEvent& event : selector_->select(wait_limit))
    selector_->dispatch(event);
  EXPECT_EQ(log, (std::vector<std::string>{first, second}));
}

TEST_P(SelectorTest, CallbackThatUnregistersAnotherDescriptorCancelsItsPendingEvent) {
  test_support::SocketPair first = test_support::make_socket_pair();
  test_support::SocketPair second = test_support::make_socket_pair();
  std::vector<int> called;
  // Whichever runs first unregisters the other, whose event is already in the list.
  const auto register_pair = [&](int fd, int other) {
    selector_->register_fd(fd, event_write, [this, fd, other, &called](EventMask) {
      selector_->unregister(other);
      called.push_back(fd);
    });
  };
  register_pair(first.ours.get(), second.ours.get());
  register_pair(second.ours.get(), first.ours.get());
  const auto ready = selector_->select(wait_limit);
  ASSERT_EQ(ready.size(), 2u);
  for (const ReadyEvent& event : ready)
    selector_->dispatch(event);
  EXPECT_EQ(called, std::vector<int>{ready[0].fd});
}

TEST_P(SelectorTest, CallbackThatRegistersManyDescriptorsWhileItRunsIsSafe) {
  test_support::SocketPair pair = test_support::make_socket_pair();
  std::vector<test_support::SocketPair> more;
  std::vector<std::string> log;
  const std::string label(100, 'b');
  selector_->register_fd(pair.ours.get(), event_write, [this, &more, &log, label](EventMask) {
    // Enough new descriptors to make the registration table grow and move.
    for (int i = 0; i < 200; ++i) {
      more.push_back(test_support::make_socket_pair());
      selector_->register_fd(more.back().ours.get(), event_read, [](EventMask) {});
    }
    log.push_back(label);
  });
  for (const ReadyEvent& event : selector_->select(wait_limit))
    selector_->dispatch(event);
  EXPECT_EQ(log, std::vector<std::string>{label});
}

TEST_P(SelectorTest, UnregisterToleratesADescriptorClosedBehindItsBack) {
  test_support::SocketPair pair = test_support::make_socket_pair();
  const int fd = pair.ours.get();
  selector_->register_fd(fd, event_read, [](EventMask) {});
  pair.ours.reset();
  EXPECT_NO_THROW(selector_->unregister(fd));
  EXPECT_NO_THROW(selector_->unregister(fd));
}

TEST_P(SelectorTest, RegisteringTwiceOrModifyingAStrangerIsAnError) {
  test_support::SocketPair pair = test_support::make_socket_pair();
  selector_->register_fd(pair.ours.get(), event_read, [](EventMask) {});
  EXPECT_THROW(selector_->register_fd(pair.ours.get(), event_read, [](EventMask) {}),
               std::invalid_argument);
  EXPECT_THROW(selector_->modify(pair.theirs.get(), event_read), std::invalid_argument);
  EXPECT_THROW(selector_->register_fd(-1, event_read, [](EventMask) {}), std::invalid_argument);
}

INSTANTIATE_TEST_SUITE_P(Backends, SelectorTest, testing::Values(Backend::epoll, Backend::poll),
                         [](const testing::TestParamInfo<Backend>& info) {
                           return std::string(info.param == Backend::epoll ? "epoll" : "poll");
                         });

TEST(ParseBackend, KnowsEpollAndPollAndRejectsAnythingElse) {
  EXPECT_EQ(lesson3::parse_backend("epoll"), Backend::epoll);
  EXPECT_EQ(lesson3::parse_backend("poll"), Backend::poll);
  EXPECT_THROW(lesson3::parse_backend("select"), std::invalid_argument);
  EXPECT_THROW(lesson3::parse_backend(""), std::invalid_argument);
}

TEST(Describe, NamesEachCombinationOfEvents) {
  EXPECT_EQ(lesson3::describe(0), "nothing");
  EXPECT_EQ(lesson3::describe(event_read), "read");
  EXPECT_EQ(lesson3::describe(event_write), "write");
  EXPECT_EQ(lesson3::describe(event_read | event_write), "read+write");
}

}  // namespace
