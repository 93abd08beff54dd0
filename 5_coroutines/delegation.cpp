// Lesson 5: delegation, Python's `yield from`. A coroutine hands its caller
// over to a sub-coroutine until that one finishes, and receives its result.
//
// Run it:      scripts/run.sh delegation                  a narrated walkthrough
//              scripts/run.sh delegation --interactive    drive it yourself (type help)
// Observe:     every message sent to the delegator `g` is printed by subgen,
//              after a "..........", though g is what we send to. An
//              exception thrown into g is raised in subgen, which returns
//              "BlaBlaException raised."; that string is what g's
//              co_await yield_from(...) evaluates to, and g prints it.
// Why:         the chain g -> subgen is one generator for its caller:
//              Generator resumes the innermost coroutine directly and
//              forwards sends and throws to it, so a chain of any depth costs
//              the same per step and no stack.
// Since coroutines.cpp: one coroutine awaits another with yield_from().
// Shortcuts:   subgen names an exception by its what(), where Python prints
//              the name of its class.

#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <utility>

#include "5_coroutines/generator.hpp"
#include "5_coroutines/repl.hpp"
#include "common/command_line.hpp"

namespace {

using lesson5::None;

// Python: class BlaBlaException(Exception): pass
class BlaBlaException : public std::exception {
 public:
  const char* what() const noexcept override { return "BlaBlaException"; }
};

// Python:
//   def subgen():
//       while True:
//           try:
//               message = yield
//           except Exception as e:
//               return f'{type(e).__name__} raised.'
//           else:
//               print('..........', message)
lesson5::Generator<None, std::string, std::string> subgen() {
  while (true) {
    std::optional<std::string> message;
    try {
      message = co_yield None{};
    } catch (const std::exception& error) {
      co_return std::string(error.what()) + " raised.";
    }
    std::cout << ".......... " << message.value_or("None") << '\n';
  }
}

// Python:
//   @coroutine
//   def delegator():
//       result = yield from subgen()
//       print('res:', result)
lesson5::Generator<None, std::string> delegator() {
  const std::string result = co_await lesson5::yield_from(subgen());
  std::cout << "res: " << result << '\n';
}

constexpr lesson5::repl::Step walkthrough[] = {
    {"g is delegator(), not started. prime() runs it into subgen(), which it delegates to, "
     "up to subgen's co_yield.",
     "prime g"},
    {"We send to g, but subgen is the one waiting: its co_yield receives the message.",
     "send g ok"},
    {"", "send g hello"},
    {"next() sends nothing, Python's None.", "next g"},
    {"g is suspended as long as subgen is.", "state g"},
    {"An exception thrown into g is raised in subgen, which returns a string. That is "
     "what g's co_await yield_from(...) evaluates to; g prints it and finishes.",
     "throw g"},
    {"", "state g"},
    {"close() reaches subgen the same way: GeneratorExit ends subgen, then g.", "new g"},
    {"", "prime g"},
    {"", "send g one more"},
    {"", "close g"},
};

}  // namespace

int main(int argc, char** argv) {
  bool interactive = false;
  common::CommandLine command_line(
      "delegation",
      "Lesson 5: a coroutine delegates to a sub-coroutine (Python: yield from); sends and\n"
      "throws reach the sub-coroutine, whose result comes back. Without options, a\n"
      "narrated walkthrough.");
  command_line.flag("--interactive", "read commands from standard input (type help)", interactive);
  command_line.parse(argc, argv);

  lesson5::repl::Interpreter interpreter;
  interpreter.add<BlaBlaException>("g", delegator);
  if (interactive) {
    interpreter.run(std::cin);
  } else {
    interpreter.run(walkthrough);
    std::cout << "\nYour turn: scripts/run.sh delegation --interactive, then type help.\n";
  }
  return 0;
}
