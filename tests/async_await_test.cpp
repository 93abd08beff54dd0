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

// The order the program documents: at tick 0 the number, then "0 seconds
// passed."; at every later third tick the seconds line, then the number. With
// --ticks N: the numbers 0 to N-1, and the seconds lines of the ticks below N.
std::string expected_output(int ticks) {
  std::string expected;
  for (int tick = 0; tick < ticks; ++tick) {
    const std::string seconds = tick % 3 == 0 ? std::to_string(tick) + " seconds passed.\n" : "";
    const std::string number = std::to_string(tick) + "\n";
    expected += tick == 0 ? number + seconds : seconds + number;
  }
  return expected;
}

TEST(AsyncAwait, PrintsEachTasksLinesAtItsOwnPaceInTheDocumentedOrder) {
  const test_support::Finished finished =
      test_support::run_program("async_await", {"--tick-ms", "20", "--ticks", "10"});
  EXPECT_EQ(finished.exit_code, 0) << finished.error;
  EXPECT_EQ(finished.output, expected_output(10));
}

TEST(AsyncAwait, KeepsTheSameOrderWithTicksOfOneMillisecond) {
  const test_support::Finished finished =
      test_support::run_program("async_await", {"--tick-ms", "1", "--ticks", "300"});
  EXPECT_EQ(finished.exit_code, 0) << finished.error;
  EXPECT_EQ(finished.output, expected_output(300));
}

TEST(AsyncAwait, OneTickPrintsTheFirstLineOfEachTask) {
  const test_support::Finished finished =
      test_support::run_program("async_await", {"--tick-ms", "1000", "--ticks", "1"});
  EXPECT_EQ(finished.exit_code, 0) << finished.error;
  EXPECT_EQ(finished.output, "0\n0 seconds passed.\n");
}

TEST(AsyncAwait, RunsUntilCtrlCWithoutTicksAndThenExitsZero) {
  test_support::Program program("async_await", {"--tick-ms", "10"});
  for (const char* line : {"0", "0 seconds passed.", "1", "2", "3 seconds passed.", "3"}) {
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
