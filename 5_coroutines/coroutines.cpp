// Lesson 5: coroutines that take values in: send(), throw_into(), close(),
// the states a generator goes through, and the course's online averager.
//
// Run it:      scripts/run.sh 5                  a narrated walkthrough
//              scripts/run.sh 5 --interactive    drive gen and avg yourself (type help)
// Observe:     gen is GEN_CREATED until next() runs it to its co_yield, and a
//              value sent before that is refused, as Python refuses it. Once
//              GEN_SUSPENDED, send("Ok") resumes it and its co_yield evaluates
//              to "Ok". avg, once primed, answers every number with the
//              running average; throwing Stop into it prints "Done!", and it
//              returns its last average, which result() reads.
// Why:         the compiler turns a function with co_yield into a frame (its
//              locals and the point where it stopped) that can be resumed;
//              Generator (generator.hpp) is the handle through which we
//              resume it, hand it values and read what it yields.
// Since lesson 4: there, each task's states and the locals that outlive a
//              suspension were written out by hand; here the compiler derives
//              them from straight-line code, and values flow in as well as out.
// Shortcuts:   commands are read word by word, with no quoting.

#include <cmath>
#include <exception>
#include <iostream>
#include <optional>
#include <string>

#include "5_coroutines/generator.hpp"
#include "5_coroutines/repl.hpp"
#include "common/command_line.hpp"

namespace {

// What `throw` raises. The course throws StopIteration in as a "please stop".
class Stop : public std::exception {
 public:
  const char* what() const noexcept override { return "Stop"; }
};

// Python:
//   def gen():
//       x = 'Ready to accept message'
//       message = yield x
//       print('Generator received: ', message)
lesson5::Generator<std::string, std::string> gen() {
  const std::string x = "Ready to accept message";
  const std::optional<std::string> message = co_yield x;
  std::cout << "Generator received: " << message.value_or("None") << '\n';
}

// Python: round(value, 2)
double round_to_cents(double value) {
  return std::round(value * 100) / 100;
}

// Python:
//   def average():
//       count = 0
//       summ = 0
//       average = None
//       while True:
//           try:
//               x = yield average
//           except StopIteration:
//               print('Done!')
//               break
//           else:
//               count += 1
//               summ += x
//               average = round(summ / count, 2)
//       return average
lesson5::Generator<std::optional<double>, double, std::optional<double>> average() {
  int count = 0;
  double sum = 0;
  std::optional<double> running_average;
  while (true) {
    std::optional<double> x;
    try {
      x = co_yield running_average;
    } catch (const Stop&) {
      std::cout << "Done!\n";
      break;
    }
    // next() sends nothing (None). Python would fail at `summ += None`; we
    // simply hand out the same average again.
    if (!x) continue;
    ++count;
    sum += *x;
    running_average = round_to_cents(sum / count);
  }
  co_return running_average;
}

// What the course types at Python's >>> prompt, as commands to the interpreter that
// --interactive reads from standard input.
constexpr lesson5::repl::Step walkthrough[] = {
    {"gen() made a generator, but not one line of its body has run yet.", "state gen"},
    {"So there is no co_yield waiting for a value, and Python refuses this:", "send gen Ok"},
    {"next() runs gen up to its co_yield, which hands out the greeting.", "next gen"},
    {"gen now waits at that co_yield, its locals kept in its frame.", "state gen"},
    {"send() resumes it and the co_yield evaluates to what was sent. gen prints it and runs "
     "off its end.",
     "send gen Ok"},
    {"", "state gen"},
    {"avg is the online averager. prime() runs it to its first co_yield, as the course's "
     "@coroutine decorator does.",
     "prime avg"},
    {"Each number sent comes back as the running average, rounded to two places.", "send avg 10"},
    {"", "send avg 20"},
    {"", "send avg 4"},
    {"Stop, thrown in, is raised at the co_yield where avg waits. avg catches it, prints "
     "Done! and returns its last average.",
     "throw avg"},
    {"Python hands that value out in StopIteration; here result() reads it.", "result avg"},
    {"A finished generator cannot be resumed.", "send avg 5"},
    {"An exception the coroutine does not catch comes back out of throw_into().", "new gen"},
    {"", "next gen"},
    {"", "throw gen"},
    {"close() raises GeneratorExit at the co_yield: avg does not catch it, so it ends there, "
     "without a return value.",
     "new avg"},
    {"", "prime avg"},
    {"", "close avg"},
    {"", "result avg"},
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

  lesson5::repl::Interpreter interpreter;
  interpreter.add<Stop>("gen", gen);
  interpreter.add<Stop>("avg", average);
  if (interactive) {
    interpreter.run(std::cin);
  } else {
    interpreter.run(walkthrough);
    std::cout << "\nYour turn: scripts/run.sh 5 --interactive, then type help.\n";
  }
  return 0;
}
