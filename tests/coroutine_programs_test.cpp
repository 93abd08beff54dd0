// Lesson 5's programs, `coroutines` and `delegation`, driven through standard
// input and read back from standard output. The texts expected are the
// course's: what its Python prints for the same steps, as the course wrote
// the texts ("Gen received: ", "res: ").

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "tests/program.hpp"

namespace {

using testing::Contains;
using testing::ElementsAre;
using testing::HasSubstr;
using testing::IsEmpty;
using testing::Not;
using testing::StartsWith;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

// Runs a program to its end with `input` on its standard input; expects exit 0.
std::vector<std::string> run(std::string_view program, const std::vector<std::string>& arguments,
                             std::string_view input = {}) {
  const test_support::Finished finished = test_support::run_program(program, arguments, input);
  EXPECT_EQ(finished.exit_code, 0) << finished.error;
  return lines_of(finished.output);
}

std::vector<std::string> interact(std::string_view program, std::string_view input) {
  return run(program, {"--interactive"}, input);
}

// A walkthrough echoes each command as ">>> command", then what it printed.
struct Exchange {
  std::string command;
  std::vector<std::string> answer;
};

std::vector<Exchange> walkthrough_of(std::string_view program) {
  std::vector<Exchange> exchanges;
  for (const std::string& line : run(program, {})) {
    if (line.starts_with(">>> ")) {
      exchanges.push_back({line.substr(4), {}});
    } else if (!exchanges.empty() && !line.empty() && !line.starts_with("# ")) {
      exchanges.back().answer.push_back(line);
    }
  }
  return exchanges;
}

// The answer to the n-th (from 0) exchange whose command is `command`.
std::vector<std::string> answer_to(const std::vector<Exchange>& exchanges, std::string_view command,
                                   int n = 0) {
  for (const Exchange& exchange : exchanges) {
    if (exchange.command == command && n-- == 0) return exchange.answer;
  }
  ADD_FAILURE() << "the walkthrough has no command '" << command << "'";
  return {};
}

// Whether `commands` appear in the walkthrough in this order (with others between).
bool in_order(const std::vector<Exchange>& exchanges, const std::vector<std::string>& commands) {
  auto next = commands.begin();
  for (const Exchange& exchange : exchanges) {
    if (next != commands.end() && exchange.command == *next) ++next;
  }
  return next == commands.end();
}

// --- coroutines: the walkthrough --------------------------------------------

TEST(CoroutinesWalkthrough, TypesWhatTheCourseTypesInTheCoursesOrder) {
  const std::vector<Exchange> exchanges = walkthrough_of("coroutines");
  ASSERT_FALSE(exchanges.empty());
  EXPECT_EQ(exchanges.front().command, "state gen_");
  EXPECT_THAT(exchanges.front().answer, ElementsAre("GEN_CREATED"));
  // The course: getgeneratorstate(gen_), gen_.send(None), getgeneratorstate(gen_),
  // gen_.send("example"), getgeneratorstate(gen_), then avg.send(5) ... avg.throw(StopIteration).
  EXPECT_TRUE(
      in_order(exchanges, {"state gen_", "send gen_ None", "state gen_", "send gen_ example",
                           "state gen_", "send avg 5", "throw avg StopIteration"}));
  EXPECT_THAT(answer_to(exchanges, "state gen_", 1), ElementsAre("GEN_SUSPENDED"));
  EXPECT_THAT(answer_to(exchanges, "state gen_", 2), ElementsAre("GEN_CLOSED"));
}

TEST(CoroutinesWalkthrough, ShowsTheCoursesTextsThenGenRefusingAnEarlySend) {
  const std::vector<Exchange> exchanges = walkthrough_of("coroutines");
  EXPECT_THAT(answer_to(exchanges, "send gen_ None"),
              ElementsAre("gen_ yielded 'Ready to accept message.'"));
  EXPECT_THAT(answer_to(exchanges, "send gen_ example"),
              ElementsAre("Gen received: example", HasSubstr("gen_ finished")));
  EXPECT_THAT(answer_to(exchanges, "send gen_ example", 1),
              ElementsAre("error: can't send non-None value to a just-started generator"));
  EXPECT_THAT(answer_to(exchanges, "next gen_"),
              ElementsAre("gen_ yielded 'Ready to accept message.'"));
  EXPECT_THAT(answer_to(exchanges, "next gen_", 1),
              ElementsAre("Gen received: None", HasSubstr("gen_ finished")));
}

TEST(CoroutinesWalkthrough, ShowsAvgPrimedItsAveragesDoneAndAnExceptionItDoesNotCatch) {
  const std::vector<Exchange> exchanges = walkthrough_of("coroutines");
  EXPECT_THAT(answer_to(exchanges, "state avg"), ElementsAre("GEN_SUSPENDED"));
  // Python: avg.send(5), avg.send(10), avg.send(4)
  EXPECT_THAT(answer_to(exchanges, "send avg 5"), ElementsAre("avg yielded 5.0"));
  EXPECT_THAT(answer_to(exchanges, "send avg 10"), ElementsAre("avg yielded 7.5"));
  EXPECT_THAT(answer_to(exchanges, "send avg 4"), ElementsAre("avg yielded 6.33"));
  EXPECT_THAT(answer_to(exchanges, "throw avg StopIteration"),
              ElementsAre("Done!", HasSubstr("avg finished")));
  EXPECT_THAT(answer_to(exchanges, "result avg"), ElementsAre("6.33"));
  EXPECT_THAT(answer_to(exchanges, "throw avg Exception"),
              ElementsAre("Exception escaped from avg, now GEN_CLOSED"));
}

// --- coroutines --interactive -----------------------------------------------

TEST(CoroutinesInteractive, TheCoursesPythonSpellingDrivesGenAndAvg) {
  EXPECT_THAT(interact("coroutines",
                       "getgeneratorstate(gen_)\n"
                       "gen_.send(None)\n"
                       "next(gen_)\n"
                       "new gen_\n"
                       "next(gen_)\n"
                       "gen_.send(\"example\")\n"
                       "avg.send(5)\n"
                       "avg.throw(StopIteration)\n"
                       "getgeneratorstate(avg)\n"
                       "exit()\n"
                       "state gen_\n"),
              ElementsAre("GEN_CREATED", "gen_ yielded 'Ready to accept message.'",
                          "Gen received: None", HasSubstr("gen_ finished"),
                          HasSubstr("gen_ is new"), "gen_ yielded 'Ready to accept message.'",
                          "Gen received: example", HasSubstr("gen_ finished"), "avg yielded 5.0",
                          "Done!", HasSubstr("avg finished"), "GEN_CLOSED"));
}

TEST(CoroutinesInteractive, AvgStartsPrimedAndGenDoesNotAsInTheCourse) {
  EXPECT_THAT(interact("coroutines",
                       "state gen_\nstate avg\nsend avg 3\nnew avg\nstate avg\n"
                       "new gen_\nstate gen_\n"),
              ElementsAre("GEN_CREATED", "GEN_SUSPENDED", "avg yielded 3.0",
                          "avg is new (Python: avg = average()), GEN_SUSPENDED", "GEN_SUSPENDED",
                          "gen_ is new (Python: gen_ = gen()), GEN_CREATED", "GEN_CREATED"));
}

TEST(CoroutinesInteractive, TheCoursesAssignmentsMakeGenAndAvgAgain) {
  EXPECT_THAT(interact("coroutines",
                       "next(gen_)\ngen_ = gen()\navg.send(4)\navg=average( )\n"
                       "getgeneratorstate(avg)\ngen_ = average()\n"),
              ElementsAre("gen_ yielded 'Ready to accept message.'",
                          "gen_ is new (Python: gen_ = gen()), GEN_CREATED", "avg yielded 4.0",
                          "avg is new (Python: avg = average()), GEN_SUSPENDED", "GEN_SUSPENDED",
                          "gen_ can only be made as the program made it: gen_ = gen()"));
}

TEST(CoroutinesInteractive, SendTakesPythonsNumberFormsAndNamesThemOtherwise) {
  // Python: avg.send(1_000) ... each time to a new average().
  const std::vector<std::string> lines = interact(
      "coroutines",
      "avg.send(1_000)\navg = average()\navg.send(True)\navg = average()\navg.send(False)\n"
      "avg = average()\navg.send(1/4)\navg = average()\navg.send(-2*3)\n"
      "avg = average()\navg.send(+1_0.5e1)\navg.send(1/0)\navg.send(2**3)\navg.send(1__0)\n");
  std::vector<std::string> averages;
  for (const std::string& line : lines) {
    if (!line.ends_with("GEN_SUSPENDED")) averages.push_back(line);
  }
  const std::string forms =
      "send needs a value avg can take: a number as Python writes it (5, "
      "-2.5, 1e3, 1_000, True, False, 1/3, 2*5), or None";
  EXPECT_THAT(averages, ElementsAre("avg yielded 1000.0", "avg yielded 1.0", "avg yielded 0.0",
                                    "avg yielded 0.25", "avg yielded -6.0", "avg yielded 105.0",
                                    "ZeroDivisionError: division by zero", forms, forms));
}

TEST(CoroutinesInteractive, SendNoneIsNextAndQuotedTextIsText) {
  EXPECT_THAT(interact("coroutines",
                       "send gen_ None\nsend gen_ 'hello world'\n"
                       "send avg None\nsend avg 'None'\nsend avg \"2\"\n"),
              ElementsAre("gen_ yielded 'Ready to accept message.'", "Gen received: hello world",
                          HasSubstr("gen_ finished"), "avg yielded None",
                          HasSubstr("send needs a value avg can take"),
                          HasSubstr("send needs a value avg can take")));
}

TEST(CoroutinesInteractive, ThrowRaisesTheExceptionTheReaderNames) {
  EXPECT_THAT(
      interact("coroutines",
               "throw avg StopIteration()\nstate avg\n"
               "new avg\nthrow avg Exception\nstate avg\n"
               "new avg\navg.throw(GeneratorExit)\n"
               "next gen_\nthrow gen_ StopIteration\nnext gen_\n"),
      ElementsAre("Done!", HasSubstr("avg finished"), "GEN_CLOSED", HasSubstr("avg is new"),
                  "Exception escaped from avg, now GEN_CLOSED", "GEN_CLOSED",
                  HasSubstr("avg is new"), "GeneratorExit escaped from avg, now GEN_CLOSED",
                  "gen_ yielded 'Ready to accept message.'",
                  "StopIteration escaped from gen_, now GEN_CLOSED", "error: generator is closed"));
}

TEST(CoroutinesInteractive, CloseEndsThePrimedAveragerWithoutAReturnValue) {
  EXPECT_THAT(interact("coroutines", "close avg\nstate avg\nresult avg\n"),
              ElementsAre("avg closed, GEN_CLOSED", "GEN_CLOSED",
                          "error: generator finished without a return value"));
}

TEST(CoroutinesInteractive, WhatItDoesNotUnderstandGetsAClearMessage) {
  const std::vector<std::string> lines =
      interact("coroutines",
               "dance gen_\nsend\nnext nobody\nsend avg ten\nsend avg\n"
               "throw avg\nthrow avg ValueError\ngen_.dance()\n\n");
  ASSERT_EQ(lines.size(), 8u);
  EXPECT_THAT(lines[0], HasSubstr("unknown command 'dance'"));
  EXPECT_THAT(lines[1], HasSubstr("which generator"));
  EXPECT_THAT(lines[2], HasSubstr("no generator named 'nobody'"));
  EXPECT_THAT(lines[3], HasSubstr("send needs a value avg can take"));
  EXPECT_THAT(lines[4], HasSubstr("send needs a value avg can take"));
  EXPECT_EQ(lines[5], "throw needs an exception: Exception, GeneratorExit, StopIteration");
  EXPECT_EQ(lines[6], lines[5]);
  EXPECT_THAT(lines[7], HasSubstr("unknown command 'gen_.dance()'"));
}

TEST(CoroutinesInteractive, HelpListsTheCommandsAndQuitEndsTheSession) {
  const std::vector<std::string> lines = interact("coroutines", "help\nquit\nstate gen_\n");
  EXPECT_THAT(lines, Contains(HasSubstr("send NAME VALUE")));
  EXPECT_THAT(lines, Contains(HasSubstr("StopIteration")));
  EXPECT_THAT(lines, Contains(HasSubstr("getgeneratorstate(NAME)")));
  EXPECT_THAT(lines, Not(Contains("GEN_CREATED")));
}

TEST(CoroutinesInteractive, EndOfInputEndsTheSession) {
  EXPECT_THAT(interact("coroutines", ""), IsEmpty());
  EXPECT_THAT(interact("coroutines", "state gen_"), ElementsAre("GEN_CREATED"));
}

// --- delegation -------------------------------------------------------------

TEST(DelegationWalkthrough, ShowsSgPrintingWhatGIsSentAndBothOutcomesOfThrow) {
  const std::vector<Exchange> exchanges = walkthrough_of("delegation");
  ASSERT_FALSE(exchanges.empty());
  EXPECT_EQ(exchanges.front().command, "state g");
  EXPECT_THAT(exchanges.front().answer, ElementsAre("GEN_SUSPENDED"));
  EXPECT_THAT(answer_to(exchanges, "state sg"), ElementsAre("GEN_SUSPENDED"));
  EXPECT_THAT(answer_to(exchanges, "send g ok"), ElementsAre(".......... ok", "g yielded None"));
  EXPECT_THAT(answer_to(exchanges, "next g"), ElementsAre(".......... None", "g yielded None"));
  EXPECT_THAT(answer_to(exchanges, "throw g SomeException"),
              ElementsAre("res: SomeException raised.", HasSubstr("g finished")));
  EXPECT_THAT(answer_to(exchanges, "throw g GeneratorExit"),
              ElementsAre("GeneratorExit escaped from g, now GEN_CLOSED"));
  EXPECT_TRUE(in_order(exchanges, {"send g ok", "throw g SomeException", "throw g GeneratorExit"}));
}

TEST(DelegationInteractive, SendsAndThrowsToGReachSgWhoseResultGPrints) {
  EXPECT_THAT(
      interact("delegation",
               "state g\nstate sg\nsend g first\ng.send('a b c')\n"
               "g.throw(SomeException)\nstate g\nstate sg\nresult sg\n"),
      ElementsAre("GEN_SUSPENDED", "GEN_SUSPENDED", ".......... first", "g yielded None",
                  ".......... a b c", "g yielded None", "res: SomeException raised.",
                  HasSubstr("g finished"), "GEN_CLOSED", "GEN_CLOSED", "'SomeException raised.'"));
}

TEST(DelegationInteractive, AnyExceptionSubgenCatchesBecomesItsResult) {
  EXPECT_THAT(interact("delegation", "throw g Exception\n"),
              ElementsAre("res: Exception raised.", HasSubstr("g finished")));
}

TEST(DelegationInteractive, GeneratorExitIsNoExceptionAndGoesThroughBoth) {
  EXPECT_THAT(
      interact("delegation", "throw g GeneratorExit\nstate g\nstate sg\n"),
      ElementsAre("GeneratorExit escaped from g, now GEN_CLOSED", "GEN_CLOSED", "GEN_CLOSED"));
}

TEST(DelegationInteractive, SgIsDrivenThroughGOnlyWhileGDelegatesToIt) {
  const std::vector<std::string> lines = interact(
      "delegation", "send sg hi\nnext sg\nthrow sg SomeException\nclose sg\nstate sg\nsend g hi\n");
  ASSERT_EQ(lines.size(), 7u);
  for (int i = 0; i < 4; ++i)
    EXPECT_THAT(lines[i], StartsWith("error: generator is lent to a yield_from")) << i;
  EXPECT_EQ(lines[4], "GEN_SUSPENDED");
  EXPECT_EQ(lines[5], ".......... hi");
}

TEST(DelegationInteractive, NewMakesSgAndGAgain) {
  EXPECT_THAT(interact("delegation",
                       "throw g SomeException\nnew sg\nstate sg\nstate g\n"
                       "send g again\nclose g\nnew g\nsend g more\n"),
              ElementsAre("res: SomeException raised.", HasSubstr("g finished"),
                          "sg is new (Python: sg = subgen(); g = delegator(sg)), GEN_SUSPENDED",
                          "GEN_SUSPENDED", "GEN_SUSPENDED", ".......... again", "g yielded None",
                          "g closed, GEN_CLOSED", HasSubstr("g is new"), ".......... more",
                          "g yielded None"));
}

TEST(DelegationInteractive, TheCoursesAssignmentsMakeSgAndGAgain) {
  EXPECT_THAT(interact("delegation",
                       "close g\nsg = subgen()\nsend g one\nclose g\ng = delegator(sg)\n"
                       "send g two\ng = delegator(g)\n"),
              ElementsAre("g closed, GEN_CLOSED",
                          "sg is new (Python: sg = subgen(); g = delegator(sg)), GEN_SUSPENDED",
                          ".......... one", "g yielded None", "g closed, GEN_CLOSED",
                          HasSubstr("g is new"), ".......... two", "g yielded None",
                          "g can only be made as the program made it: sg = subgen(); g = "
                          "delegator(sg)"));
}

TEST(DelegationInteractive, CloseReachesSgAndClosesBoth) {
  EXPECT_THAT(interact("delegation", "close g\nstate g\nstate sg\nsend g late\n"),
              ElementsAre("g closed, GEN_CLOSED", "GEN_CLOSED", "GEN_CLOSED",
                          "error: generator is closed"));
}

// --- flags ------------------------------------------------------------------

TEST(CoroutineProgramsFlags, HelpDescribesInteractiveAndExitsZero) {
  for (std::string_view program : {"coroutines", "delegation"}) {
    const test_support::Finished finished = test_support::run_program(program, {"--help"});
    EXPECT_EQ(finished.exit_code, 0) << program;
    EXPECT_THAT(finished.output, HasSubstr("--interactive")) << program;
  }
}

// What it prints on standard error is common::CommandLine's, tested with it.
TEST(CoroutineProgramsFlags, AnUnknownFlagExitsWithCodeTwo) {
  for (std::string_view program : {"coroutines", "delegation"}) {
    EXPECT_EQ(test_support::run_program(program, {"--bogus"}).exit_code, 2) << program;
  }
}

}  // namespace
