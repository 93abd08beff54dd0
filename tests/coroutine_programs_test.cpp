// Lesson 5's programs, `coroutines` and `delegation`, driven through standard
// input and read back from standard output. Expected values are computed here
// from what the programs were asked to do.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
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

// A walkthrough echoes each command as ">>> command", then what it printed.
struct Exchange {
  std::string command;
  std::vector<std::string> answer;
};

std::vector<Exchange> exchanges_of(const std::vector<std::string>& lines) {
  std::vector<Exchange> exchanges;
  for (const std::string& line : lines) {
    if (line.starts_with(">>> ")) {
      exchanges.push_back({line.substr(4), {}});
    } else if (!exchanges.empty() && !line.empty() && !line.starts_with("# ")) {
      exchanges.back().answer.push_back(line);
    }
  }
  return exchanges;
}

// What the programs print for a number: Python's round(value, 2), shown the
// way an ostream shows a double.
std::string average_text(double sum, int count) {
  std::ostringstream out;
  out << std::round(sum / count * 100) / 100;
  return out.str();
}

// The running averages avg must answer to these numbers, one per number.
std::vector<std::string> running_averages(const std::vector<double>& numbers) {
  std::vector<std::string> answers;
  double sum = 0;
  for (std::size_t i = 0; i < numbers.size(); ++i) {
    sum += numbers[i];
    answers.push_back("avg yielded " + average_text(sum, static_cast<int>(i + 1)));
  }
  return answers;
}

// --- coroutines: the walkthrough --------------------------------------------

TEST(CoroutinesWalkthrough, ShowsGenCreatedRefusingASendThenSuspendedThenClosed) {
  const std::vector<Exchange> exchanges = exchanges_of(run("coroutines", {}));
  std::vector<std::string> gen_states;
  bool refused_early_send = false;
  bool received = false;
  for (const Exchange& exchange : exchanges) {
    if (exchange.command == "state gen") gen_states.push_back(exchange.answer.at(0));
    if (exchange.command.starts_with("send gen ") && gen_states.size() == 1) {
      EXPECT_THAT(exchange.answer, ElementsAre("error: can't send non-None value to a "
                                               "just-started generator"));
      refused_early_send = true;
    } else if (exchange.command.starts_with("send gen ")) {
      const std::string sent = exchange.command.substr(std::string("send gen ").size());
      EXPECT_THAT(exchange.answer, Contains("Generator received: " + sent));
      received = true;
    }
  }
  EXPECT_THAT(gen_states, ElementsAre("GEN_CREATED", "GEN_SUSPENDED", "GEN_CLOSED"));
  EXPECT_TRUE(refused_early_send);
  EXPECT_TRUE(received);
}

TEST(CoroutinesWalkthrough, ShowsTheRunningAverageOfEveryNumberSentThenDoneAndTheResult) {
  const std::vector<Exchange> exchanges = exchanges_of(run("coroutines", {}));
  std::vector<double> numbers;
  std::vector<std::string> answers;
  bool done = false;
  std::string result;
  for (const Exchange& exchange : exchanges) {
    if (exchange.command == "new avg") break;  // the walkthrough's second, shorter avg
    if (exchange.command.starts_with("send avg ") && !done) {
      numbers.push_back(std::stod(exchange.command.substr(std::string("send avg ").size())));
      answers.push_back(exchange.answer.at(0));
    }
    if (exchange.command == "throw avg") done = exchange.answer.at(0) == "Done!";
    if (exchange.command == "result avg") result = exchange.answer.at(0);
  }
  ASSERT_GE(numbers.size(), 3u);
  EXPECT_EQ(answers, running_averages(numbers));
  EXPECT_TRUE(done);
  double sum = 0;
  for (double number : numbers)
    sum += number;
  EXPECT_EQ(result, average_text(sum, static_cast<int>(numbers.size())));
}

// --- coroutines --interactive -----------------------------------------------

TEST(CoroutinesInteractive, AveragerAnswersEveryNumberAndReturnsTheLastAverageAfterDone) {
  const std::vector<double> numbers = {7, 2, 9.5, 1, 100};
  std::string input = "prime avg\n";
  for (double number : numbers)
    input += "send avg " + std::to_string(number) + "\n";
  input += "throw avg\nstate avg\nresult avg\n";

  const std::vector<std::string> lines = run("coroutines", {"--interactive"}, input);
  std::vector<std::string> averages;
  for (const std::string& line : lines) {
    if (line.starts_with("avg yielded ")) averages.push_back(line);
  }
  EXPECT_EQ(averages, running_averages(numbers));
  ASSERT_GE(lines.size(), 4u);
  EXPECT_EQ(lines[lines.size() - 4], "Done!");
  EXPECT_THAT(lines[lines.size() - 3], HasSubstr("finished"));
  EXPECT_EQ(lines[lines.size() - 2], "GEN_CLOSED");
  EXPECT_EQ(lines.back(), average_text(7 + 2 + 9.5 + 1 + 100, 5));
}

TEST(CoroutinesInteractive, GenRefusesASendBeforeNextAndPrintsWhatItReceivesAfter) {
  const std::vector<std::string> lines =
      run("coroutines", {"--interactive"},
          "state gen\nsend gen hi\nnext gen\nstate gen\nsend gen hi there\nstate gen\n");
  EXPECT_THAT(lines,
              ElementsAre("GEN_CREATED", HasSubstr("just-started generator"),
                          "gen yielded 'Ready to accept message'", "GEN_SUSPENDED",
                          "Generator received: hi there", HasSubstr("gen finished"), "GEN_CLOSED"));
}

TEST(CoroutinesInteractive, NextSendsNoneWhichGenPrintsAsNone) {
  const std::vector<std::string> lines =
      run("coroutines", {"--interactive"}, "next gen\nnext gen\n");
  EXPECT_THAT(lines, Contains("Generator received: None"));
}

TEST(CoroutinesInteractive, AnExceptionGenDoesNotCatchEscapesAndClosesIt) {
  const std::vector<std::string> lines =
      run("coroutines", {"--interactive"}, "next gen\nthrow gen\nstate gen\nnext gen\n");
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_THAT(lines[1], HasSubstr("escaped from gen"));
  EXPECT_EQ(lines[2], "GEN_CLOSED");
  EXPECT_THAT(lines[3], StartsWith("error:"));
}

TEST(CoroutinesInteractive, CloseEndsAPrimedAverager) {
  const std::vector<std::string> lines =
      run("coroutines", {"--interactive"}, "prime avg\nclose avg\nstate avg\nresult avg\n");
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_THAT(lines[1], HasSubstr("closed"));
  EXPECT_EQ(lines[2], "GEN_CLOSED");
  EXPECT_THAT(lines[3], HasSubstr("without a return value"));
}

TEST(CoroutinesInteractive, NewStartsAGeneratorAfresh) {
  const std::vector<std::string> lines = run("coroutines", {"--interactive"},
                                             "prime avg\nsend avg 4\nnew avg\nstate avg\n"
                                             "prime avg\nsend avg 10\n");
  EXPECT_EQ(lines.at(3), "GEN_CREATED");
  EXPECT_EQ(lines.back(), "avg yielded 10");
}

TEST(CoroutinesInteractive, WhatItDoesNotUnderstandGetsAClearMessage) {
  const std::vector<std::string> lines = run("coroutines", {"--interactive"},
                                             "dance gen\nsend\nnext nobody\nprime avg\n"
                                             "send avg ten\nsend avg\n\n");
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_THAT(lines[0], HasSubstr("unknown command 'dance'"));
  EXPECT_THAT(lines[1], HasSubstr("which generator"));
  EXPECT_THAT(lines[2], HasSubstr("no generator named 'nobody'"));
  EXPECT_THAT(lines[4], HasSubstr("send needs a value avg can take"));
  EXPECT_THAT(lines[5], HasSubstr("send needs a value avg can take"));
}

TEST(CoroutinesInteractive, HelpListsTheCommandsAndQuitEndsTheSession) {
  const std::vector<std::string> lines =
      run("coroutines", {"--interactive"}, "help\nquit\nstate gen\n");
  EXPECT_THAT(lines, Contains(HasSubstr("send NAME VALUE")));
  EXPECT_THAT(lines, Contains(HasSubstr("Stop in avg")));
  EXPECT_THAT(lines, Not(Contains("GEN_CREATED")));
}

TEST(CoroutinesInteractive, EndOfInputEndsTheSession) {
  EXPECT_THAT(run("coroutines", {"--interactive"}), IsEmpty());
  EXPECT_THAT(run("coroutines", {"--interactive"}, "state avg"), ElementsAre("GEN_CREATED"));
}

// --- delegation -------------------------------------------------------------

TEST(DelegationWalkthrough, SubgenPrintsEveryMessageSentToTheDelegatorAndTheResultComesBack) {
  const std::vector<Exchange> exchanges = exchanges_of(run("delegation", {}));
  int messages = 0;
  bool returned = false;
  for (const Exchange& exchange : exchanges) {
    if (exchange.command.starts_with("send g ")) {
      const std::string sent = exchange.command.substr(std::string("send g ").size());
      EXPECT_EQ(exchange.answer.at(0), ".......... " + sent);
      ++messages;
    }
    if (exchange.command == "next g") {
      EXPECT_EQ(exchange.answer.at(0), ".......... None");
    }
    if (exchange.command == "throw g") {
      EXPECT_EQ(exchange.answer.at(0), "res: BlaBlaException raised.");
      returned = true;
    }
  }
  EXPECT_GE(messages, 2);
  EXPECT_TRUE(returned);
}

TEST(DelegationInteractive, SendsAndThrowsReachSubgenThroughTheDelegator) {
  const std::vector<std::string> lines = run("delegation", {"--interactive"},
                                             "state g\nprime g\nsend g first\nsend g a b c\n"
                                             "state g\nthrow g\nstate g\n");
  EXPECT_THAT(lines,
              ElementsAre("GEN_CREATED", HasSubstr("GEN_SUSPENDED"), ".......... first",
                          "g yielded None", ".......... a b c", "g yielded None", "GEN_SUSPENDED",
                          "res: BlaBlaException raised.", HasSubstr("g finished"), "GEN_CLOSED"));
}

TEST(DelegationInteractive, CloseReachesSubgenAndClosesTheDelegator) {
  const std::vector<std::string> lines =
      run("delegation", {"--interactive"}, "prime g\nclose g\nstate g\nsend g late\n");
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_THAT(lines[1], HasSubstr("closed"));
  EXPECT_EQ(lines[2], "GEN_CLOSED");
  EXPECT_THAT(lines[3], StartsWith("error:"));
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
