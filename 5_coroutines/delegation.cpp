// Lesson 5: delegation, Python's `yield from`. A coroutine hands its caller
// over to a sub-coroutine until that one finishes, and receives its result.
//
// Run it:   scripts/run.sh delegation                  a narrated walkthrough
//           scripts/run.sh delegation --interactive    drive sg and g yourself
// Watch:    what is sent to g, sg prints. An exception thrown into g is raised
//           in sg, whose returned string g prints. GeneratorExit goes through both.

#include <exception>
#include <iostream>
#include <optional>
#include <string>

#include "5_coroutines/generator.hpp"
#include "5_coroutines/repl.hpp"
#include "5_coroutines/yield_from.hpp"
#include "common/command_line.hpp"

namespace {

using lesson5::Generator;
using lesson5::None;

// Python: class SomeException(Exception). Python's Exception is
// std::exception here.
class SomeException : public std::exception {
 public:
  const char* what() const noexcept override { return "SomeException"; }
};

// Python:
//   def subgen():
//       while True:
//           try:
//               message = yield
//           except Exception as e:
//               return f"{e.__class__.__name__} raised."
//           else:
//               print("..........", message)
Generator<None, std::string, std::string> subgen() {
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
//   def delegator(g: Generator):
//       res = yield from g
//       print("res: ", res)
//
// Like Python's g, `sub` is a generator that the caller made and still holds:
// yield_from(sub) borrows it, and the caller keeps it alive meanwhile.
Generator<None, std::string> delegator(Generator<None, std::string, std::string>& sub) {
  const std::string result = co_await lesson5::yield_from(sub);
  // The text as the course wrote it (Python's print() shows two spaces).
  std::cout << "res: " << result << '\n';
}

constexpr lesson5::repl::Step walkthrough[] = {
    {"sg = subgen(), then g = delegator(sg), which the course's @coroutine primes (prime() "
     "here): g ran up to its yield from, which started sg. Both wait now, sg at its co_yield.",
     "state g"},
    {"", "state sg"},
    {"We send to g, but sg is the one waiting: its co_yield receives the message.", "send g ok"},
    {"", "send g hello"},
    {"next() sends None.", "next g"},
    {"While g delegates to sg, sg is driven through g only (Python would let us send to sg "
     "too).",
     "send sg hi"},
    {"An exception thrown into g is raised in sg, which catches it and returns a string. That "
     "is what g's co_await yield_from(sub) evaluates to; g prints it and finishes.",
     "throw g SomeException"},
    {"sg finished first, and its result is still there to read.", "state sg"},
    {"", "result sg"},
    {"subgen catches any Exception, std::exception here. GeneratorExit is no Exception: it goes "
     "through sg, then through g.",
     "new g"},
    {"", "throw g GeneratorExit"},
    {"", "state sg"},
    {"close() raises GeneratorExit in sg the same way, and both end quietly.", "new g"},
    {"", "send g one more"},
    {"", "close g"},
    {"", "state sg"},
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

  // Python: sg = subgen(); g = delegator(sg), which @coroutine primes. g comes
  // second so that it is destroyed first: it borrows sg.
  auto sg = subgen();
  auto g = lesson5::prime(delegator(sg));
  // `new sg` and `new g` make both again. The old g is closed first, which
  // closes the old sg it delegates to, so that sg is free to be replaced.
  const auto make_both_again = [&sg, &g] {
    g.close();
    sg = subgen();
    g = lesson5::prime(delegator(sg));
  };

  lesson5::repl::Interpreter interpreter;
  interpreter.add_exception<SomeException>();
  interpreter.add("sg", sg, "sg = subgen(); g = delegator(sg)", make_both_again);
  interpreter.add("g", g, "sg = subgen(); g = delegator(sg)", make_both_again);
  if (interactive) {
    interpreter.run_interactive();
  } else {
    interpreter.run(walkthrough);
    std::cout << "\nYour turn: scripts/run.sh delegation --interactive, then type help.\n";
  }
  return 0;
}
