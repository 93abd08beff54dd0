// async_await: two tasks on one event loop, interleaved in a documented order.
#include <csignal>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/program.hpp"

namespace {

using namespace std::chrono_literals;
using testing::HasSubstr;

// The rule the program documents: at every tick the counting task prints the
// tick's number; at every third tick after the start the other task then
// prints "N seconds passed.", after the number.
std::string expected_output(int ticks) {
  std::string expected;
  for (int tick = 0; tick < ticks; ++tick) {
    expected += std::to_string(tick) + "\n";
    if (tick > 0 && tick % 3 == 0) expected += std::to_string(tick) + " seconds passed.\n";
  }
  return expected;
}

TEST(AsyncAwait, PrintsTheNumbersAndEveryThirdTickTheSecondsLineAfterTheNumber) {
  const test_support::Finished finished =
      test_support::run_program("async_await", {"--tick-ms", "20", "--ticks", "10"});
  EXPECT_EQ(finished.exit_code, 0) << finished.error;
  EXPECT_EQ(finished.output, expected_output(10));
}

TEST(AsyncAwait, KeepsTheSameOrderWithTicksOfOneMillisecond) {
  const test_support::Finished finished =
      test_support::run_program("async_await", {"--tick-ms", "1", "--ticks", "100"});
  EXPECT_EQ(finished.exit_code, 0) << finished.error;
  EXPECT_EQ(finished.output, expected_output(100));
}

TEST(AsyncAwait, RunsUntilCtrlCWithoutTicksAndThenExitsZero) {
  test_support::Program program("async_await", {"--tick-ms", "10"});
  for (const char* line : {"0", "1", "2", "3", "3 seconds passed."}) {
    EXPECT_EQ(program.read_line(), line);
  }
  program.send_signal(SIGINT);
  EXPECT_EQ(program.wait_for_exit(), 0) << program.error_output();
}

TEST(AsyncAwait, HelpDescribesTheFlagsAndExitsZero) {
  const test_support::Finished finished = test_support::run_program("async_await", {"--help"});
  EXPECT_EQ(finished.exit_code, 0);
  EXPECT_THAT(finished.output, HasSubstr("--tick-ms"));
  EXPECT_THAT(finished.output, HasSubstr("--ticks"));
}

TEST(AsyncAwait, RefusesAnUnknownFlagOrABadTickWithExitCodeTwo) {
  for (const std::vector<std::string>& arguments : {std::vector<std::string>{"--bogus"},
                                                    {"--tick-ms", "0"},
                                                    {"--ticks", "-1"},
                                                    {"--ticks", "many"}}) {
    const test_support::Finished finished = test_support::run_program("async_await", arguments);
    EXPECT_EQ(finished.exit_code, 2) << arguments.front();
    EXPECT_EQ(finished.output, "");
    EXPECT_THAT(finished.error, HasSubstr("async_await"));
  }
}

}  // namespace
