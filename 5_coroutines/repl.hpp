// Support code, not the lesson: you may skip this file and repl.cpp. They are
// the little interpreter behind `coroutines --interactive` and `delegation
// --interactive` (the walkthroughs are scripts of its commands), so that a
// reader can drive the programs' generators by hand, the way the course does
// at Python's >>> prompt. Each command is one call on a generator the program
// named:
//
//   state NAME              NAME.state()          getgeneratorstate(NAME)
//   next NAME               NAME.next()           next(NAME)
//   send NAME VALUE         NAME.send(VALUE)      NAME.send(VALUE)
//   send NAME None          NAME.next()           NAME.send(None)
//   throw NAME EXCEPTION    NAME.throw_into(...)  NAME.throw(EXCEPTION)
//   close NAME              NAME.close()          NAME.close()
//   result NAME             NAME.result()         (StopIteration.value)
//   new NAME                what the program did to make NAME, again: gen_ = gen()
//
// The Python spellings of the last column work too. VALUE is None, a number as
// Python writes it (1_000, True, 1/3...), or text ('quoted', as in Python, or
// not), and values print as Python shows them. At a terminal, lines can be
// edited and recalled (libedit), and Ctrl-C gives the prompt back, as in Python.
#pragma once

#include <exception>
#include <functional>
#include <iostream>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "5_coroutines/generator.hpp"
#include "5_coroutines/throw_and_close.hpp"

namespace lesson5::repl {

// Python's Exception, which `throw NAME Exception` raises. The programs' own
// exception classes derive from std::exception too, and name themselves in what().
class Exception : public std::exception {
 public:
  const char* what() const noexcept override { return "Exception"; }
};

// What Python raises for 1/0, which `send NAME 1/0` prints as Python does.
class ZeroDivisionError : public std::exception {
 public:
  const char* what() const noexcept override { return "ZeroDivisionError: division by zero"; }
};

// VALUE as typed, into what a generator takes; false when it is not one.
// Text is anything, 'quoted' or not. A number is one as Python writes it
// (see number_forms), which the REPL's own spelling extends with inf and nan.
bool parse(std::string_view text, std::string& value);
bool parse(std::string_view text, double& value);
inline constexpr std::string_view number_forms =
    "a number as Python writes it (5, -2.5, 1e3, 1_000, True, False, 1/3, 2*5)";

// Python's repr(): a value as Python's prompt shows it.
std::string repr(double value);
std::string repr(const std::string& value);
std::string repr(None);
template <typename Value>
std::string repr(const std::optional<Value>& value) {
  return value ? repr(*value) : "None";
}

// Runs the commands on one of the program's generators: verb is one of the
// interpreter's, value the rest of the line, and for throw, `exception` is
// what to raise.
template <typename Yield, typename Sent, typename Return>
class GeneratorTarget {
 public:
  GeneratorTarget(std::string_view name, Generator<Yield, Sent, Return>& generator,
                  std::string_view made_by, std::function<void()> make_again)
      : name_(name), generator_(generator), made_by_(made_by), make_again_(std::move(make_again)) {}

  void operator()(std::string_view verb, std::string_view value,
                  const std::exception_ptr& exception) {
    try {
      dispatch(verb, value, exception);
    } catch (const GeneratorError& error) {
      std::cout << "error: " << error.what() << '\n';
    } catch (const ZeroDivisionError& error) {
      std::cout << error.what() << '\n';
    } catch (const GeneratorExit&) {
      report_escaped("GeneratorExit");
    } catch (const std::exception& error) {
      report_escaped(error.what());
    }
  }

 private:
  void dispatch(std::string_view verb, std::string_view value,
                const std::exception_ptr& exception) {
    if (verb == "new") {
      make_again_();
      std::cout << name_ << " is new (Python: " << made_by_ << "), " << generator_.state() << '\n';
    } else if (verb == "next" || (verb == "send" && value == "None")) {
      report(generator_.next());
    } else if (verb == "send") {
      Sent sent{};
      if (!parse(value, sent)) {
        std::cout << "send needs a value " << name_ << " can take: "
                  << (std::is_arithmetic_v<Sent> ? number_forms : "text ('quoted' or not)")
                  << ", or None\n";
        return;
      }
      report(generator_.send(std::move(sent)));
    } else if (verb == "throw") {
      report(generator_.throw_into(exception));
    } else if (verb == "close") {
      generator_.close();
      std::cout << name_ << " closed, " << generator_.state() << '\n';
    } else if (verb == "state") {
      std::cout << generator_.state() << '\n';
    } else if constexpr (std::is_void_v<Return>) {  // result
      std::cout << name_ << " returns nothing: its Return type is void\n";
    } else {  // result
      std::cout << repr(generator_.result()) << '\n';
    }
  }

  // What one resumption gave: a yielded value, or the end of the generator.
  void report(const std::optional<Yield>& yielded) const {
    if (yielded) {
      std::cout << name_ << " yielded " << repr(*yielded) << '\n';
    } else {
      std::cout << name_ << " finished (Python: StopIteration), " << generator_.state() << '\n';
    }
  }

  // An exception the coroutine did not catch comes out of the call that
  // resumed it, and the generator is closed.
  void report_escaped(std::string_view exception) const {
    std::cout << exception << " escaped from " << name_ << ", now " << generator_.state() << '\n';
  }

  std::string name_;
  Generator<Yield, Sent, Return>& generator_;
  std::string made_by_;
  std::function<void()> make_again_;
};

// One step of a walkthrough: a sentence of narration, then a command.
struct Step {
  std::string_view narration;  // may be empty
  std::string_view command;
};

class Interpreter {
 public:
  Interpreter();

  // An exception `throw` can raise, by the name its what() gives.
  template <typename Thrown>
  void add_exception() {
    exceptions_.push_back({Thrown{}.what(), std::make_exception_ptr(Thrown{})});
  }

  // `generator` is the program's. `new NAME`, or a Python statement of
  // `made_by` that assigns NAME (`gen_ = gen()`), calls make_again, which
  // does what the Python statements `made_by` do.
  template <typename Yield, typename Sent, typename Return>
  void add(std::string_view name, Generator<Yield, Sent, Return>& generator,
           std::string_view made_by, std::function<void()> make_again) {
    targets_.push_back(
        {std::string(name), std::string(made_by),
         GeneratorTarget<Yield, Sent, Return>(name, generator, made_by, std::move(make_again))});
  }

  // Reads commands from standard input until `quit`, Ctrl-D or the end of
  // input. At a terminal: a prompt, line editing and history, and Ctrl-C
  // gives the prompt back; piped input is read line by line, with no prompt.
  void run_interactive();

  // Runs a walkthrough, echoing each command after its narration.
  void run(std::span<const Step> steps);

 private:
  struct Named {
    std::string name;
    std::string made_by;
    std::function<void(std::string_view, std::string_view, const std::exception_ptr&)> run;
  };
  struct NamedException {
    std::string name;
    std::exception_ptr exception;
  };

  bool execute(std::string_view typed);
  const Named* assigned(std::string_view line) const;
  static bool made_by(const Named& target, std::string_view line);
  const Named* find(std::string_view name) const;
  std::exception_ptr find_exception(std::string_view name) const;
  std::string exception_names() const;
  std::string made_by_all() const;
  void print_help() const;

  std::vector<Named> targets_;
  std::vector<NamedException> exceptions_;
};

}  // namespace lesson5::repl
