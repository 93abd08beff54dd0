// Lesson 5's Generator: states, send/next/throw_into/close, values in and out,
// return values, misuse errors, frame lifetime, and delegation (yield_from),
// of a generator handed over or lent.

#include "5_coroutines/generator.hpp"
#include "5_coroutines/throw_and_close.hpp"
#include "5_coroutines/yield_from.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

using lesson5::Generator;
using lesson5::GeneratorError;
using lesson5::GeneratorExit;
using lesson5::GeneratorState;
using lesson5::None;
using lesson5::prime;
using lesson5::yield_from;
using testing::ElementsAre;
using testing::HasSubstr;

// Counts how many of its kind are alive, to see a frame's locals destroyed.
class Counted {
 public:
  explicit Counted(int* alive) : alive_(alive) { ++*alive_; }
  Counted(const Counted&) = delete;
  Counted& operator=(const Counted&) = delete;
  ~Counted() { --*alive_; }

 private:
  int* alive_;
};

// Expects `call` to throw GeneratorError whose message contains `words`.
template <typename Call>
void expect_generator_error(Call call, const std::string& words) {
  try {
    call();
    ADD_FAILURE() << "no GeneratorError; expected one saying: " << words;
  } catch (const GeneratorError& error) {
    EXPECT_THAT(error.what(), HasSubstr(words));
  }
}

Generator<int> count_to(int n) {
  for (int i = 1; i <= n; ++i)
    co_yield i;
}

// Records how far its body got, and what each co_yield evaluated to.
Generator<int, std::string, int> recorder(std::vector<std::string>* log) {
  log->push_back("started");
  for (int i = 0; i < 3; ++i) {
    const std::optional<std::string> received = co_yield i;
    log->push_back(received.value_or("None"));
  }
  co_return 42;
}

// --- states ---------------------------------------------------------------

TEST(GeneratorStates, NewGeneratorIsCreatedAndHasRunNothing) {
  std::vector<std::string> log;
  auto generator = recorder(&log);
  EXPECT_EQ(generator.state(), GeneratorState::created);
  EXPECT_TRUE(log.empty());
}

TEST(GeneratorStates, NextRunsToTheFirstYieldAndLeavesItSuspended) {
  std::vector<std::string> log;
  auto generator = recorder(&log);
  EXPECT_EQ(generator.next(), 0);
  EXPECT_EQ(generator.state(), GeneratorState::suspended);
  EXPECT_THAT(log, ElementsAre("started"));
}

// The coroutine reads the state of the generator that is running it.
Generator<GeneratorState> report_own_state(const Generator<GeneratorState>* const* self) {
  co_yield (*self)->state();
}

TEST(GeneratorStates, GeneratorIsRunningWhileItsBodyRuns) {
  const Generator<GeneratorState>* self = nullptr;
  auto generator = report_own_state(&self);
  self = &generator;
  EXPECT_EQ(generator.next(), GeneratorState::running);
}

TEST(GeneratorStates, GeneratorIsClosedOnceItsBodyEnds) {
  auto generator = count_to(1);
  generator.next();
  EXPECT_EQ(generator.next(), std::nullopt);
  EXPECT_EQ(generator.state(), GeneratorState::closed);
}

TEST(GeneratorStates, StatesPrintAsPythonNamesThem) {
  EXPECT_EQ(to_string(GeneratorState::created), "GEN_CREATED");
  EXPECT_EQ(to_string(GeneratorState::running), "GEN_RUNNING");
  EXPECT_EQ(to_string(GeneratorState::suspended), "GEN_SUSPENDED");
  EXPECT_EQ(to_string(GeneratorState::closed), "GEN_CLOSED");
  std::ostringstream out;
  out << GeneratorState::suspended;
  EXPECT_EQ(out.str(), "GEN_SUSPENDED");
}

// --- values out and in ----------------------------------------------------

TEST(GeneratorValues, NextHandsOutEveryYieldedValueInOrder) {
  auto generator = count_to(4);
  std::vector<int> values;
  while (const std::optional<int> value = generator.next())
    values.push_back(*value);
  EXPECT_THAT(values, ElementsAre(1, 2, 3, 4));
}

TEST(GeneratorValues, SendIsWhatCoYieldEvaluatesToAndNextSendsNone) {
  std::vector<std::string> log;
  auto generator = recorder(&log);
  generator.next();
  EXPECT_EQ(generator.send("first"), 1);
  EXPECT_EQ(generator.next(), 2);
  EXPECT_EQ(generator.send("third"), std::nullopt);
  EXPECT_THAT(log, ElementsAre("started", "first", "None", "third"));
}

Generator<std::string> long_strings() {
  for (char letter : {'a', 'b', 'c'})
    co_yield std::string(100, letter);
}

TEST(GeneratorValues, YieldedTemporaryIsCopiedBeforeTheCoroutineGoesOn) {
  auto generator = long_strings();
  EXPECT_EQ(generator.next(), std::string(100, 'a'));
  EXPECT_EQ(generator.next(), std::string(100, 'b'));
  EXPECT_EQ(generator.next(), std::string(100, 'c'));
}

TEST(GeneratorValues, ReturnValueIsReadableOnceFinished) {
  std::vector<std::string> log;
  auto generator = recorder(&log);
  expect_generator_error([&] { generator.result(); }, "has not finished");
  while (generator.next()) {
  }
  EXPECT_EQ(generator.result(), 42);
}

TEST(GeneratorValues, PrimeRunsANewGeneratorToItsFirstYield) {
  std::vector<std::string> log;
  auto generator = prime(recorder(&log));
  EXPECT_EQ(generator.state(), GeneratorState::suspended);
  EXPECT_EQ(generator.send("hello"), 1);
  EXPECT_THAT(log, ElementsAre("started", "hello"));
}

// --- misuse ---------------------------------------------------------------

TEST(GeneratorErrors, SendingAValueToACreatedGeneratorIsRefusedAsInPython) {
  std::vector<std::string> log;
  auto generator = recorder(&log);
  expect_generator_error([&] { generator.send("too early"); },
                         "can't send non-None value to a just-started generator");
  EXPECT_EQ(generator.state(), GeneratorState::created);
  EXPECT_TRUE(log.empty());
}

TEST(GeneratorErrors, ResumingAClosedGeneratorIsAnError) {
  auto generator = count_to(0);
  EXPECT_EQ(generator.next(), std::nullopt);
  expect_generator_error([&] { generator.next(); }, "closed");
  expect_generator_error([&] { generator.throw_into(std::runtime_error("late")); }, "closed");
}

TEST(GeneratorErrors, AMovedFromGeneratorIsAnErrorToResume) {
  auto generator = count_to(3);
  auto taken = std::move(generator);
  expect_generator_error([&] { generator.next(); }, "moved from");
  expect_generator_error([&] { generator.close(); }, "moved from");
  EXPECT_EQ(generator.state(), GeneratorState::closed);
  EXPECT_EQ(taken.next(), 1);
}

Generator<int> resume_self(Generator<int>* const* self) {
  co_yield 1;
  (*self)->next();
}

TEST(GeneratorErrors, AGeneratorCannotResumeItselfWhileRunning) {
  Generator<int>* self = nullptr;
  auto generator = resume_self(&self);
  self = &generator;
  generator.next();
  expect_generator_error([&] { generator.next(); }, "already executing");
  EXPECT_EQ(generator.state(), GeneratorState::closed);
}

// --- exceptions -----------------------------------------------------------

Generator<int, None, std::string> catch_runtime_errors() {
  int caught = 0;
  while (true) {
    try {
      co_yield caught;
    } catch (const std::runtime_error& error) {
      if (++caught == 2) co_return error.what();
    }
  }
}

TEST(GeneratorExceptions, ThrowIntoRaisesAtTheCoYieldWhereTheGeneratorWaits) {
  auto generator = prime(catch_runtime_errors());
  EXPECT_EQ(generator.throw_into(std::runtime_error("one")), 1);
  EXPECT_EQ(generator.throw_into(std::make_exception_ptr(std::runtime_error("two"))), std::nullopt);
  EXPECT_EQ(generator.result(), "two");
}

TEST(GeneratorExceptions, AnExceptionTheCoroutineDoesNotCatchComesOutOfThrowInto) {
  auto generator = prime(catch_runtime_errors());
  EXPECT_THROW(generator.throw_into(std::logic_error("not caught")), std::logic_error);
  EXPECT_EQ(generator.state(), GeneratorState::closed);
}

TEST(GeneratorExceptions, ThrowingIntoACreatedGeneratorClosesItWithoutRunningIt) {
  std::vector<std::string> log;
  auto generator = recorder(&log);
  EXPECT_THROW(generator.throw_into(std::runtime_error("early")), std::runtime_error);
  EXPECT_EQ(generator.state(), GeneratorState::closed);
  EXPECT_TRUE(log.empty());
}

Generator<int> fail_after_one() {
  co_yield 1;
  throw std::out_of_range("failed in the body");
}

TEST(GeneratorExceptions, AnExceptionEscapingTheBodyComesOutOfNextAndClosesIt) {
  auto generator = fail_after_one();
  generator.next();
  EXPECT_THROW(generator.next(), std::out_of_range);
  EXPECT_EQ(generator.state(), GeneratorState::closed);
  expect_generator_error([&] { generator.next(); }, "closed");
}

// --- close ----------------------------------------------------------------

Generator<int> count_forever(int* alive, bool* saw_exit) {
  const Counted local(alive);
  try {
    for (int i = 0;; ++i)
      co_yield i;
  } catch (const GeneratorExit&) {
    *saw_exit = true;
    throw;
  }
}

TEST(GeneratorClose, CloseRaisesGeneratorExitAtTheCoYieldAndEndsTheBody) {
  int alive = 0;
  bool saw_exit = false;
  auto generator = prime(count_forever(&alive, &saw_exit));
  EXPECT_EQ(alive, 1);
  generator.close();
  EXPECT_TRUE(saw_exit);
  EXPECT_EQ(generator.state(), GeneratorState::closed);
  EXPECT_EQ(alive, 0);
}

TEST(GeneratorClose, ClosingACreatedOrClosedGeneratorRunsNothing) {
  std::vector<std::string> log;
  auto generator = recorder(&log);
  generator.close();
  EXPECT_EQ(generator.state(), GeneratorState::closed);
  generator.close();
  EXPECT_TRUE(log.empty());
}

Generator<int> catch_everything() {
  while (true) {
    try {
      co_yield 0;
    } catch (...) {
    }
  }
}

TEST(GeneratorClose, AGeneratorThatYieldsAfterGeneratorExitIsAnError) {
  auto generator = prime(catch_everything());
  expect_generator_error([&] { generator.close(); }, "ignored GeneratorExit");
}

Generator<int> catch_std_exceptions(bool* caught) {
  try {
    co_yield 0;
  } catch (const std::exception&) {
    *caught = true;
  }
}

TEST(GeneratorClose, CatchingStdExceptionDoesNotSwallowGeneratorExit) {
  bool caught = false;
  auto generator = prime(catch_std_exceptions(&caught));
  generator.close();
  EXPECT_FALSE(caught);
  EXPECT_EQ(generator.state(), GeneratorState::closed);
}

Generator<int, None, int> return_on_exit() {
  try {
    co_yield 0;
  } catch (const GeneratorExit&) {
    co_return 7;
  }
  co_return 0;
}

TEST(GeneratorClose, AGeneratorMayReturnInsteadOfLettingGeneratorExitOut) {
  auto generator = prime(return_on_exit());
  generator.close();
  EXPECT_EQ(generator.result(), 7);
}

Generator<int> fail_on_exit() {
  try {
    co_yield 0;
  } catch (const GeneratorExit&) {
    throw std::runtime_error("cleanup failed");
  }
}

TEST(GeneratorClose, AnotherExceptionRaisedOnCloseComesOutOfClose) {
  auto generator = prime(fail_on_exit());
  EXPECT_THROW(generator.close(), std::runtime_error);
  EXPECT_EQ(generator.state(), GeneratorState::closed);
}

// --- frame lifetime -------------------------------------------------------

Generator<int> hold_two(int* alive) {
  const Counted first(alive);
  co_yield 1;
  const Counted second(alive);
  co_yield 2;
}

TEST(GeneratorLifetime, DestroyingASuspendedGeneratorDestroysTheLocalsAliveInIt) {
  int alive = 0;
  {
    auto generator = hold_two(&alive);
    generator.next();
    generator.next();
    EXPECT_EQ(alive, 2);
  }
  EXPECT_EQ(alive, 0);
}

Generator<long> hold_parameter(std::shared_ptr<int> shared) {
  co_yield shared.use_count();
}

TEST(GeneratorLifetime, DestroyingACreatedGeneratorDestroysItsParameters) {
  const auto shared = std::make_shared<int>(0);
  {
    // Parameters are copied into the frame when the generator is made.
    auto generator = hold_parameter(shared);
    EXPECT_EQ(shared.use_count(), 2);
  }
  EXPECT_EQ(shared.use_count(), 1);
}

TEST(GeneratorLifetime, MoveAssignmentDestroysTheFrameItReplaces) {
  int alive = 0;
  auto generator = hold_two(&alive);
  generator.next();
  EXPECT_EQ(alive, 1);
  generator = count_to(2);
  EXPECT_EQ(alive, 0);
  EXPECT_EQ(generator.next(), 1);
}

TEST(GeneratorLifetime, AMillionYieldsHandOutEveryValueInTurn) {
  constexpr int steps = 1'000'000;
  auto generator = count_to(steps);
  long long sum = 0;
  while (const std::optional<int> value = generator.next())
    sum += *value;
  EXPECT_EQ(sum, static_cast<long long>(steps) * (steps + 1) / 2);
}

// --- delegation (yield from) ----------------------------------------------

// Prints nothing: logs every message, returns how it ended.
Generator<int, std::string, std::string> sub_logger(std::vector<std::string>* log) {
  int received = 0;
  while (true) {
    try {
      const std::optional<std::string> message = co_yield received;
      if (!message) co_return "done after " + std::to_string(received);
      log->push_back(*message);
      ++received;
    } catch (const std::runtime_error& error) {
      co_return std::string("caught ") + error.what();
    }
  }
}

Generator<int, std::string, std::string> delegate_once(std::vector<std::string>* log) {
  co_yield -1;
  const std::string result = co_await yield_from(sub_logger(log));
  log->push_back("result: " + result);
  co_return result;
}

TEST(GeneratorDelegation, SendsToTheOuterGeneratorReachTheInnerOne) {
  std::vector<std::string> log;
  auto generator = prime(delegate_once(&log));
  EXPECT_EQ(generator.next(), 0);  // the sub-generator's first yield comes out
  EXPECT_EQ(generator.send("a"), 1);
  EXPECT_EQ(generator.send("b"), 2);
  EXPECT_EQ(generator.next(), std::nullopt);
  EXPECT_THAT(log, ElementsAre("a", "b", "result: done after 2"));
  EXPECT_EQ(generator.result(), "done after 2");
}

TEST(GeneratorDelegation, ThrowsIntoTheOuterGeneratorAreRaisedInTheInnerOne) {
  std::vector<std::string> log;
  auto generator = prime(delegate_once(&log));
  generator.next();
  EXPECT_EQ(generator.throw_into(std::runtime_error("boom")), std::nullopt);
  EXPECT_EQ(generator.result(), "caught boom");
}

Generator<int, std::string, std::string> catch_from_sub(std::vector<std::string>* log) {
  std::string caught;
  try {
    co_await yield_from(sub_logger(log));
  } catch (const std::logic_error& error) {
    caught = error.what();
  }
  co_yield 100;  // the outer generator goes on after the inner one failed
  co_return "outer caught " + caught;
}

TEST(GeneratorDelegation, AnExceptionEscapingTheInnerGeneratorIsRaisedInTheOuterOne) {
  std::vector<std::string> log;
  auto generator = prime(catch_from_sub(&log));
  EXPECT_EQ(generator.throw_into(std::logic_error("through")), 100);
  EXPECT_EQ(generator.next(), std::nullopt);
  EXPECT_EQ(generator.result(), "outer caught through");
}

Generator<int, None, int> yield_then_return_ten_times(int value) {
  co_yield value;
  co_return value * 10;
}

Generator<int, None, int> sum_of_sub_results(int rounds) {
  int sum = 0;
  for (int i = 0; i < rounds; ++i)
    sum += co_await yield_from(yield_then_return_ten_times(i));
  co_return sum;
}

TEST(GeneratorDelegation, TheInnerReturnValueIsTheValueOfYieldFrom) {
  auto generator = sum_of_sub_results(4);
  std::vector<int> yielded;
  while (const std::optional<int> value = generator.next())
    yielded.push_back(*value);
  EXPECT_THAT(yielded, ElementsAre(0, 1, 2, 3));
  EXPECT_EQ(generator.result(), (0 + 1 + 2 + 3) * 10);
}

Generator<int, None, int> resume_primed(Generator<int, None, int> sub) {
  const int result = co_await yield_from(std::move(sub));
  co_return result + 1;
}

Generator<int, None, int> one_two_three() {
  const std::optional<None> first = co_yield 1;
  co_yield first ? -1 : 2;  // -1 if something other than next()'s None arrived
  co_return 3;
}

Generator<int, None, int> return_five() {
  co_return 5;
}

TEST(GeneratorDelegation, DelegatingToAPrimedGeneratorResumesItWithNone) {
  auto generator = resume_primed(prime(one_two_three()));
  EXPECT_EQ(generator.next(), 2);
  EXPECT_EQ(generator.next(), std::nullopt);
  EXPECT_EQ(generator.result(), 4);
}

TEST(GeneratorDelegation, DelegatingToAFinishedGeneratorGivesItsResultAtOnce) {
  auto sub = return_five();
  EXPECT_EQ(sub.next(), std::nullopt);
  auto generator = resume_primed(std::move(sub));
  EXPECT_EQ(generator.next(), std::nullopt);
  EXPECT_EQ(generator.result(), 6);
}

Generator<int> hold_and_delegate(int* alive) {
  const Counted outer(alive);
  co_await yield_from(hold_two(alive));
}

TEST(GeneratorDelegation, CloseReachesTheInnerGeneratorAndEndsBoth) {
  int alive = 0;
  auto generator = prime(hold_and_delegate(&alive));
  EXPECT_EQ(alive, 2);
  generator.close();
  EXPECT_EQ(generator.state(), GeneratorState::closed);
  EXPECT_EQ(alive, 0);
}

// depth generators, each delegating to the next; the innermost yields what it
// is sent, back, until it is sent "stop".
Generator<int, int, int> nested(int depth, int* alive) {
  const Counted local(alive);
  if (depth == 0) {
    std::optional<int> received = co_yield 0;
    while (received && *received >= 0)
      received = co_yield *received * 2;
    co_return 0;
  }
  co_return 1 + co_await yield_from(nested(depth - 1, alive));
}

TEST(GeneratorDelegation, AChainOfTenThousandDelegationsForwardsSendsAndReturns) {
  constexpr int depth = 10'000;
  int alive = 0;
  auto generator = prime(nested(depth, &alive));
  EXPECT_EQ(alive, depth + 1);
  EXPECT_EQ(generator.send(21), 42);
  EXPECT_EQ(generator.send(-1), std::nullopt);
  EXPECT_EQ(generator.result(), depth);
  EXPECT_EQ(alive, 0);  // every body has ended, and every local with it
}

TEST(GeneratorDelegation, DestroyingASuspendedChainDestroysEveryFrameInIt) {
  constexpr int depth = 10'000;
  int alive = 0;
  {
    auto generator = prime(nested(depth, &alive));
    EXPECT_EQ(alive, depth + 1);
  }
  EXPECT_EQ(alive, 0);
}

Generator<int, None, int> return_at_once(int value) {
  co_return value;
}

Generator<int, None, long long> delegate_a_million_times(int times) {
  long long sum = 0;
  for (int i = 0; i < times; ++i)
    sum += co_await yield_from(return_at_once(i));
  co_yield 0;
  co_return sum;
}

TEST(GeneratorDelegation, AMillionDelegationsInALoopRunInConstantStack) {
  constexpr int times = 1'000'000;
  auto generator = delegate_a_million_times(times);
  EXPECT_EQ(generator.next(), 0);
  EXPECT_EQ(generator.next(), std::nullopt);
  EXPECT_EQ(generator.result(), static_cast<long long>(times) * (times - 1) / 2);
}

// --- delegation to a lent generator: yield_from(sub) on one its holder keeps ---

Generator<int, std::string, std::string> borrow(Generator<int, std::string, std::string>& sub) {
  const std::string result = co_await yield_from(sub);
  co_return "outer got " + result;
}

TEST(GeneratorLending, ALentGeneratorIsInTheStateOfTheOneItIsLentTo) {
  std::vector<std::string> log;
  auto sub = sub_logger(&log);
  EXPECT_EQ(sub.state(), GeneratorState::created);
  auto outer = prime(borrow(sub));  // starts sub: Python's yield from does too
  EXPECT_EQ(sub.state(), GeneratorState::suspended);
  EXPECT_EQ(outer.send("a"), 1);
  EXPECT_EQ(sub.state(), GeneratorState::suspended);
  EXPECT_THAT(log, ElementsAre("a"));
}

Generator<GeneratorState> lend_state_reporter(Generator<GeneratorState>& sub) {
  co_await yield_from(sub);
}

TEST(GeneratorLending, ALentGeneratorIsRunningWhileTheChainRuns) {
  const Generator<GeneratorState>* self = nullptr;
  auto sub = report_own_state(&self);
  self = &sub;
  auto outer = lend_state_reporter(sub);
  EXPECT_EQ(outer.next(), GeneratorState::running);
}

TEST(GeneratorLending, ALentGeneratorIsResumedThroughTheOneItIsLentToOnly) {
  std::vector<std::string> log;
  auto sub = sub_logger(&log);
  auto outer = prime(borrow(sub));
  const std::string words = "lent to a yield_from";
  expect_generator_error([&] { sub.next(); }, words);
  expect_generator_error([&] { sub.send("direct"); }, words);
  expect_generator_error([&] { sub.throw_into(std::runtime_error("direct")); }, words);
  expect_generator_error([&] { sub.close(); }, words);
  EXPECT_EQ(outer.send("through"), 1);
  EXPECT_THAT(log, ElementsAre("through"));
}

TEST(GeneratorLending, ALentGeneratorThatFinishesIsClosedAndKeepsItsResultForItsHolder) {
  std::vector<std::string> log;
  auto sub = sub_logger(&log);
  auto outer = prime(borrow(sub));
  EXPECT_EQ(outer.send("a"), 1);
  EXPECT_EQ(outer.next(), std::nullopt);  // None ends sub_logger, then outer
  EXPECT_EQ(outer.result(), "outer got done after 1");
  EXPECT_EQ(sub.state(), GeneratorState::closed);
  EXPECT_EQ(sub.result(), "done after 1");
  expect_generator_error([&] { sub.next(); }, "closed");
}

Generator<int> resume_lent(Generator<int>& sub) {
  co_await yield_from(sub);
}

TEST(GeneratorLending, AnExceptionEscapingALentGeneratorClosesItAndReachesTheDelegator) {
  auto sub = fail_after_one();
  auto outer = prime(resume_lent(sub));
  EXPECT_THROW(outer.next(), std::out_of_range);
  EXPECT_EQ(outer.state(), GeneratorState::closed);
  EXPECT_EQ(sub.state(), GeneratorState::closed);
}

// depth generators, each owning the next through yield_from; the innermost
// yields twice what it was last sent (None repeats it) and returns on a
// negative number. Each returns one more than the one it delegated to.
Generator<int, int, int> doubler(int depth, int* alive) {
  const Counted local(alive);
  if (depth > 0) co_return 1 + co_await yield_from(doubler(depth - 1, alive));
  int last = 0;
  while (true) {
    const std::optional<int> received = co_yield last * 2;
    if (received && *received < 0) co_return 0;
    if (received) last = *received;
  }
}

Generator<int, int, int> borrow_doubler(Generator<int, int, int>& sub) {
  co_return co_await yield_from(sub);
}

TEST(GeneratorLending, DestroyingTheDelegatorGivesTheLentGeneratorBackWithItsOwnChain) {
  int alive = 0;
  auto sub = prime(doubler(3, &alive));
  EXPECT_EQ(alive, 4);
  {
    auto outer = prime(borrow_doubler(sub));
    EXPECT_EQ(outer.send(5), 10);
  }
  EXPECT_EQ(alive, 4);  // the chain inside sub is sub's, and alive
  EXPECT_EQ(sub.state(), GeneratorState::suspended);
  EXPECT_EQ(sub.send(7), 14);
  EXPECT_EQ(sub.send(-1), std::nullopt);
  EXPECT_EQ(sub.result(), 3);
  EXPECT_EQ(alive, 0);
}

TEST(GeneratorLending, ALentGeneratorCanBeLentOnAgainOnceTheFirstDelegatorIsGone) {
  int alive = 0;
  auto sub = prime(doubler(2, &alive));
  { auto first = prime(borrow_doubler(sub)); }
  auto second = prime(borrow_doubler(sub));
  EXPECT_EQ(second.send(4), 8);
  EXPECT_EQ(second.send(-1), std::nullopt);
  EXPECT_EQ(second.result(), 2);
  EXPECT_EQ(alive, 0);
}

// depth generators, each lending the next, a local of its own frame, to a
// yield_from; the innermost yields once.
Generator<int> lend_deeper(int depth, int* alive) {
  const Counted local(alive);
  if (depth == 0) {
    co_yield 0;
    co_return;
  }
  auto sub = lend_deeper(depth - 1, alive);
  co_await yield_from(sub);
}

TEST(GeneratorLending, AChainOfAHundredThousandLentGeneratorsIsDestroyedWithoutDeepRecursion) {
  constexpr int depth = 100'000;
  int alive = 0;
  {
    auto generator = lend_deeper(depth, &alive);
    EXPECT_EQ(generator.next(), 0);
    EXPECT_EQ(alive, depth + 1);
  }
  EXPECT_EQ(alive, 0);
}

TEST(GeneratorLending, LendingAGeneratorThatIsLentAlreadyIsAnError) {
  std::vector<std::string> log;
  auto sub = sub_logger(&log);
  auto first = prime(borrow(sub));
  auto second = borrow(sub);
  expect_generator_error([&] { second.next(); }, "already lent");
  EXPECT_EQ(second.state(), GeneratorState::closed);
  EXPECT_EQ(first.send("still first's"), 1);
}

Generator<int, None, int> delegate_to_self(Generator<int, None, int>* const* self) {
  co_return co_await yield_from(**self);
}

TEST(GeneratorLending, AGeneratorCannotDelegateToItself) {
  Generator<int, None, int>* self = nullptr;
  auto generator = delegate_to_self(&self);
  self = &generator;
  expect_generator_error([&] { generator.next(); }, "already executing");
}

TEST(GeneratorLendingDeathTest, DestroyingALentGeneratorEndsTheProgramWithAMessage) {
  EXPECT_DEATH(
      {
        std::vector<std::string> log;
        auto sub = sub_logger(&log);
        auto outer = prime(borrow(sub));
        sub = sub_logger(&log);  // destroys the frame outer delegates to
      },
      "destroyed while lent to a yield_from");
}

}  // namespace
