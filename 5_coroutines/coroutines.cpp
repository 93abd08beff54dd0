// Lesson 5: coroutines that take values in: send(), throw_into(), close(),
// the states a generator goes through, and the course's online averager.
//
// Run it:   scripts/run.sh 5                  a narrated walkthrough
//           scripts/run.sh 5 --interactive    drive gen_ and avg yourself (type help)
// Watch:    gen_ refuses a value until next() has run it to its co_yield, as
//           Python does. avg starts primed, answers each number with the running
//           average, rounded as Python rounds, and prints Done! at StopIteration.

#include <array>
#include <charconv>
#include <exception>
#include <iostream>
#include <limits>
#include <optional>
#include <string>

#include "5_coroutines/generator.hpp"
#include "5_coroutines/repl.hpp"
#include "common/command_line.hpp"

namespace {

// The course throws StopIteration into avg to ask it to stop. C++ has no
// StopIteration: where Python raises it because a generator finished,
// Generator's next(), send() and throw_into() return std::nullopt
// (generator.hpp). So this class is ours, named after Python's for a reader
// following the course, and it only means "stop". (Python turns a
// StopIteration that escapes a generator into a RuntimeError; this one
// escapes as it is.)
class StopIteration : public std::exception {
 public:
  const char* what() const noexcept override { return "StopIteration"; }
};

// Python:
//   def gen():
//       x = "Ready to accept message."
//       message = yield x
//       print("Gen received: ", message)
lesson5::Generator<std::string, std::string> gen() {
  const std::string x = "Ready to accept message.";
  const std::optional<std::string> message = co_yield x;
  // The text as the course wrote it. (Its print() also puts a space between
  // its two arguments, so Python shows two after the colon.)
  std::cout << "Gen received: " << message.value_or("None") << '\n';
}

// Python: round(value, 2), which rounds the exact binary value to two
// decimals, half to even, and reads the result back. to_chars with a precision
// rounds the same way, and from_chars reads back the nearest double.
// (std::round(value * 100) / 100 rounds the product instead: 2.675, which is
// 2.67499999999999982... in binary, would become 2.68, not Python's 2.67; and
// value * 100 overflows for values above 1.8e306.)
double round_to_cents(double value) {
  // The longest such text: a sign, 309 digits, the point and two decimals.
  std::array<char, std::numeric_limits<double>::max_exponent10 + 5> text{};
  const char* end =
      std::to_chars(text.data(), text.data() + text.size(), value, std::chars_format::fixed, 2).ptr;
  double rounded = 0;
  std::from_chars(text.data(), end, rounded);  // "inf" and "nan" read back as themselves
  return rounded;
}

// Python:
//   @coroutine
//   def average():
//       cnt = 0
//       sm = 0
//       average = None
//
//       while True:
//           try:
//               x = yield average
//           except StopIteration:
//               print("Done!")
//               break
//           else:
//               cnt += 1
//               sm += x
//               average = round(sm / cnt, 2)
//
// The course's average() stops there and returns None. Ours returns its last
// average, to show where a return value goes.
lesson5::Generator<std::optional<double>, double, std::optional<double>> average() {
  int count = 0;
  double sum = 0;
  std::optional<double> running_average;  // None until the first number
  while (true) {
    std::optional<double> x;
    try {
      x = co_yield running_average;
    } catch (const StopIteration&) {
      std::cout << "Done!\n";
      break;
    }
    // next() and send(None) send nothing. Python would fail at `sm += x`;
    // we simply hand out the same average again.
    if (!x) continue;
    ++count;
    sum += *x;
    running_average = round_to_cents(sum / count);
  }
  co_return running_average;
}

// What the course has us type at Python's >>> prompt, in that order, as
// commands to the interpreter that --interactive reads from standard input.
constexpr lesson5::repl::Step walkthrough[] = {
    {"gen_ = gen() made a generator, but not one line of its body has run yet.", "state gen_"},
    {"send(None) runs gen_ up to its co_yield, which hands out x.", "send gen_ None"},
    {"gen_ now waits at that co_yield, its locals kept in its frame.", "state gen_"},
    {"send() resumes it: the co_yield evaluates to what was sent, and gen_ prints it and runs "
     "off its end.",
     "send gen_ example"},
    {"", "state gen_"},
    {"A new gen_ has no co_yield waiting for a value yet, and Python refuses one:", "new gen_"},
    {"", "send gen_ example"},
    {"next() is send(None): it runs gen_ to its co_yield, and once more, past it.", "next gen_"},
    {"", "next gen_"},
    {"avg = average() is suspended already: the course's @coroutine decorator, prime() here, "
     "ran it to its first co_yield, so it is ready for send().",
     "state avg"},
    {"Each number sent comes back as the running average, rounded to two places as Python's "
     "round() does.",
     "send avg 5"},
    {"", "send avg 10"},
    {"", "send avg 4"},
    {"StopIteration, thrown in, is raised at the co_yield where avg waits. avg catches it, "
     "prints Done! and finishes.",
     "throw avg StopIteration"},
    {"The course's average() returns nothing. Ours returns its last average: Python would hand "
     "it out in StopIteration.value, and result() reads it here.",
     "result avg"},
    {"A finished generator cannot be resumed (Python raises StopIteration again).", "send avg 5"},
    {"An exception avg does not catch comes back out of throw(), and avg is closed.", "new avg"},
    {"", "throw avg Exception"},
    {"close() raises GeneratorExit at the co_yield. avg does not catch that either, so it ends "
     "there, without a return value.",
     "new avg"},
    {"", "close avg"},
    {"", "result avg"},
    {"Every command can be typed in the course's Python spelling too.", "getgeneratorstate(gen_)"},
};

}  // namespace

int main(int argc, char** argv) {
  bool interactive = false;
  common::CommandLine command_line(
      "coroutines",
      "Lesson 5: generators that receive values (send, throw, close), their states, and the\n"
      "online averager. Without options, a narrated walkthrough.");
  command_line.flag("--interactive", "read commands from standard input (type help)", interactive);
  command_line.parse(argc, argv);

  // Python: gen_ = gen(); avg = average(), which @coroutine primes.
  auto gen_ = gen();
  auto avg = lesson5::prime(average());

  lesson5::repl::Interpreter interpreter;
  interpreter.add_exception<StopIteration>();
  interpreter.add("gen_", gen_, "gen_ = gen()", [&gen_] { gen_ = gen(); });
  interpreter.add("avg", avg, "avg = average()", [&avg] { avg = lesson5::prime(average()); });
  if (interactive) {
    interpreter.run_interactive();
  } else {
    interpreter.run(walkthrough);
    std::cout << "\nYour turn: scripts/run.sh 5 --interactive, then type help.\n";
  }
  return 0;
}
