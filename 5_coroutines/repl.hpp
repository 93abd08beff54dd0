// Support code, not the lesson: you may skip this file. It is the little
// interpreter behind `coroutines --interactive` and `delegation --interactive`
// (the walkthroughs are scripts of its commands), so that a reader can drive
// the programs' generators by hand, the way the course does at Python's >>>
// prompt. Each command is one call on a generator the program named:
//
//   state NAME              NAME.state()          getgeneratorstate(NAME)
//   next NAME               NAME.next()           next(NAME)
//   send NAME VALUE         NAME.send(VALUE)      NAME.send(VALUE)
//   send NAME None          NAME.next()           NAME.send(None)
//   throw NAME EXCEPTION    NAME.throw_into(...)  NAME.throw(EXCEPTION)
//   close NAME              NAME.close()          NAME.close()
//   result NAME             NAME.result()         (StopIteration.value)
//   new NAME                what the program did to make NAME, again
//
// The Python spellings of the last column work too. VALUE is None, a number or
// text ('quoted', as in Python, or not), and values print as Python shows them.
#pragma once

#include <unistd.h>

#include <array>
#include <charconv>
#include <cmath>
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

namespace lesson5::repl {

// Python's Exception, which `throw NAME Exception` raises. The programs' own
// exception classes derive from std::exception too, and name themselves in what().
class Exception : public std::exception {
 public:
  const char* what() const noexcept override { return "Exception"; }
};

inline std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t\r") - first + 1);
}

// A line typed in the course's Python spelling, in the interpreter's words
// (`g.send(v)` is `send g v`, `exit()` is `quit`); any other line as it was.
inline std::string from_python(std::string_view line) {
  line = trim(line);
  const std::size_t open = line.find('(');
  if (open == std::string_view::npos || !line.ends_with(')')) return std::string(line);
  const std::string_view call = line.substr(0, open);
  const std::string inside(trim(line.substr(open + 1, line.size() - open - 2)));
  if (call.find_first_of(" \t") != std::string_view::npos) return std::string(line);
  if (call == "next") return "next " + inside;
  if (call == "getgeneratorstate") return "state " + inside;
  if (call == "exit" || call == "quit") return "quit";
  const std::size_t dot = call.find('.');
  const std::string_view method = call.substr(dot + 1);
  if (dot == std::string_view::npos || (method != "send" && method != "throw" && method != "close"))
    return std::string(line);
  return std::string(method) + ' ' + std::string(call.substr(0, dot)) + ' ' + inside;
}

// VALUE as typed, into what a generator takes; false when it is not one.
inline bool parse(std::string_view text, std::string& value) {
  const bool quoted = text.size() >= 2 && (text.front() == '\'' || text.front() == '"') &&
                      text.back() == text.front();
  if (quoted) text = text.substr(1, text.size() - 2);
  value = text;
  return quoted || !text.empty();
}
inline bool parse(std::string_view text, double& value) {
  const char* last = text.data() + text.size();
  const auto [end, error] = std::from_chars(text.data(), last, value);
  return error == std::errc() && end == last;
}

// Python's repr(): a value as Python's prompt shows it. For a float, the
// fewest digits that read back as the same double, which to_chars finds too.
// Python writes them out in full from 1e-4 up to 1e16, with ".0" after a whole
// number (0.0001, 1234567.0), and in exponent form beyond (1e-05, 1e+16), as
// to_chars does in `scientific`.
inline std::string repr(double value) {
  if (std::isnan(value)) return "nan";  // Python shows no sign on a NaN
  const double size = std::abs(value);
  const bool in_full = !std::isfinite(value) || size == 0 || (size >= 1e-4 && size < 1e16);
  std::array<char, 32> buffer{};
  const auto format = in_full ? std::chars_format::fixed : std::chars_format::scientific;
  char* end = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value, format).ptr;
  std::string text(buffer.data(), end);
  if (std::isfinite(value) && in_full && text.find('.') == std::string::npos) text += ".0";
  return text;
}
inline std::string repr(const std::string& value) {
  return '\'' + value + '\'';
}
inline std::string repr(None) {
  return "None";
}
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
        std::cout << "send needs a value " << name_ << " can take, e.g. send " << name_
                  << (std::is_arithmetic_v<Sent> ? " 10" : " hello") << '\n';
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
  Interpreter() {
    add_exception<Exception>();
    exceptions_.push_back({"GeneratorExit", std::make_exception_ptr(GeneratorExit{})});
  }

  // An exception `throw` can raise, by the name its what() gives.
  template <typename Thrown>
  void add_exception() {
    exceptions_.push_back({Thrown{}.what(), std::make_exception_ptr(Thrown{})});
  }

  // `generator` is the program's. `new NAME` calls make_again, which does
  // what the Python statement `made_by` does.
  template <typename Yield, typename Sent, typename Return>
  void add(std::string_view name, Generator<Yield, Sent, Return>& generator,
           std::string_view made_by, std::function<void()> make_again) {
    targets_.push_back({std::string(name), GeneratorTarget<Yield, Sent, Return>(
                                               name, generator, made_by, std::move(make_again))});
  }

  // Reads commands until `quit` or the end of input. The prompt is for a
  // person at a terminal; piped input gets none.
  void run(std::istream& in) {
    const bool at_terminal = isatty(STDIN_FILENO) == 1;
    std::string line;
    while (true) {
      if (at_terminal) std::cout << ">>> " << std::flush;
      if (!std::getline(in, line) || !execute(line)) break;
    }
  }

  // Runs a walkthrough, echoing each command after its narration.
  void run(std::span<const Step> steps) {
    for (const Step& step : steps) {
      if (!step.narration.empty()) print_narration(step.narration);
      std::cout << ">>> " << step.command << '\n';
      execute(step.command);
    }
  }

 private:
  // One line, "VERB [NAME [VALUE]]" or its Python spelling. Returns false for quit.
  bool execute(std::string_view typed) {
    const std::string line = from_python(typed);
    std::string_view rest = line;
    const std::string_view verb = next_word(rest);
    const std::string_view name = next_word(rest);
    const std::string_view value = trim(rest);
    if (verb.empty()) return true;
    if (verb == "quit" || verb == "exit") return false;
    if (verb == "help") {
      print_help();
    } else if (!is_verb(verb)) {
      std::cout << "unknown command '" << verb << "' (type help)\n";
    } else if (name.empty()) {
      std::cout << verb << " which generator? (e.g. " << verb << ' ' << targets_.front().name
                << ")\n";
    } else if (const Named* target = find(name); target == nullptr) {
      std::cout << "no generator named '" << name << "' (type help)\n";
    } else if (verb != "throw") {
      target->run(verb, value, nullptr);
    } else if (const std::exception_ptr exception = find_exception(value); !exception) {
      std::cout << "throw needs an exception:" << exception_names() << '\n';
    } else {
      target->run(verb, value, exception);
    }
    return true;
  }

  struct Named {
    std::string name;
    std::function<void(std::string_view, std::string_view, const std::exception_ptr&)> run;
  };
  struct NamedException {
    std::string name;
    std::exception_ptr exception;
  };

  static bool is_verb(std::string_view verb) {
    for (std::string_view known : {"new", "next", "send", "throw", "close", "state", "result"}) {
      if (verb == known) return true;
    }
    return false;
  }

  // "# " and the text, wrapped at 78 columns.
  static void print_narration(std::string_view text) {
    std::cout << '\n';
    text = trim(text);
    while (!text.empty()) {
      std::string_view line = text.substr(0, 76);
      if (line.size() < text.size()) line = line.substr(0, line.rfind(' '));
      std::cout << "# " << line << '\n';
      text = trim(text.substr(line.size()));
    }
  }

  // Cuts the first word off `line`.
  static std::string_view next_word(std::string_view& line) {
    line = trim(line);
    const std::string_view word = line.substr(0, line.find_first_of(" \t"));
    line.remove_prefix(word.size());
    return word;
  }

  const Named* find(std::string_view name) const {
    for (const Named& named : targets_) {
      if (named.name == name) return &named;
    }
    return nullptr;
  }

  // Python accepts the class, StopIteration, or an instance, StopIteration().
  std::exception_ptr find_exception(std::string_view name) const {
    if (name.ends_with("()")) name.remove_suffix(2);
    for (const NamedException& named : exceptions_) {
      if (named.name == name) return named.exception;
    }
    return nullptr;
  }

  std::string exception_names() const {
    std::string names;
    for (const NamedException& exception : exceptions_)
      names += (names.empty() ? " " : ", ") + exception.name;
    return names;
  }

  void print_help() const {
    std::cout << "commands (NAME is one of:";
    for (const Named& named : targets_)
      std::cout << ' ' << named.name;
    std::cout << ")\n"
                 "  state NAME            GEN_CREATED, GEN_RUNNING, GEN_SUSPENDED or GEN_CLOSED\n"
                 "  next NAME             resume it; its co_yield evaluates to None\n"
                 "  send NAME VALUE       resume it; its co_yield evaluates to VALUE, which is\n"
                 "                        None (as next), a number, or text ('quoted' or not)\n"
                 "  throw NAME EXCEPTION  raise EXCEPTION at its co_yield; one of:\n"
                 "                       "
              << exception_names()
              << "\n"
                 "  close NAME            raise GeneratorExit at its co_yield\n"
                 "  result NAME           what it handed to co_return, once it has finished\n"
                 "  new NAME              make it again, as the program did at the start\n"
                 "  help, quit            this text; leave (so does the end of input)\n"
                 "The course's Python spelling works too: getgeneratorstate(NAME), next(NAME),\n"
                 "NAME.send(VALUE), NAME.throw(EXCEPTION), NAME.close(), exit().\n";
  }

  std::vector<Named> targets_;
  std::vector<NamedException> exceptions_;
};

}  // namespace lesson5::repl
