// The little interpreter behind `coroutines` and `delegation`: each command is
// one call on a named generator, so a reader can drive coroutines by hand the
// way the course does at Python's >>> prompt. Both walkthroughs are scripts of
// the same commands.
//
//   next gen          gen.next()             send avg 10   avg.send(10)
//   throw avg         avg.throw_into(Stop{}) close gen     gen.close()
//   state gen         gen.state()            result avg    avg.result()
//   prime avg         avg = prime(std::move(avg))
//   new gen           gen = gen_factory()    (a fresh, GEN_CREATED generator)
#pragma once

#include <unistd.h>

#include <charconv>
#include <exception>
#include <iostream>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "5_coroutines/generator.hpp"

namespace lesson5::repl {

// Typed text to a value to send; false when it does not read as one.
inline bool parse(std::string_view text, std::string& value) {
  value = text;
  return true;
}
inline bool parse(std::string_view text, double& value) {
  const char* last = text.data() + text.size();
  const auto [end, error] = std::from_chars(text.data(), last, value);
  return error == std::errc() && end == last;
}

// A value to text, the way Python's prompt shows it.
inline void print_value(std::ostream& out, const std::string& value) {
  out << '\'' << value << '\'';
}
inline void print_value(std::ostream& out, double value) {
  out << value;
}
inline void print_value(std::ostream& out, None) {
  out << "None";
}
template <typename Value>
void print_value(std::ostream& out, const std::optional<Value>& value) {
  if (value) {
    print_value(out, *value);
  } else {
    out << "None";
  }
}

// A generator the commands can name.
class Target {
 public:
  virtual ~Target() = default;
  // What `throw NAME` raises in it.
  virtual std::string exception_name() const = 0;
  // verb is one of the interpreter's verbs; argument is the rest of the line.
  virtual void run(std::string_view verb, std::string_view argument) = 0;
};

// Keeps the factory so that `new` can start the generator afresh; `throw`
// raises an Exception{} in it.
template <typename Exception, typename Yield, typename Sent, typename Return>
class GeneratorTarget final : public Target {
 public:
  using Factory = Generator<Yield, Sent, Return> (*)();

  GeneratorTarget(std::string_view name, Factory factory)
      : name_(name), factory_(factory), generator_(factory()) {}

  std::string exception_name() const override { return Exception{}.what(); }

  void run(std::string_view verb, std::string_view argument) override {
    try {
      dispatch(verb, argument);
    } catch (const GeneratorError& error) {
      std::cout << "error: " << error.what() << '\n';
    } catch (const std::exception& error) {
      // An exception the coroutine did not catch comes out of the call that
      // resumed it, and the generator is closed.
      std::cout << error.what() << " escaped from " << name_ << ", now " << generator_.state()
                << '\n';
    }
  }

 private:
  void dispatch(std::string_view verb, std::string_view argument) {
    if (verb == "new") {
      generator_ = factory_();
      std::cout << name_ << " is a new generator, " << generator_.state() << '\n';
    } else if (verb == "prime") {
      // Like the course's @coroutine, priming is for a generator just made.
      if (generator_.state() != lesson5::GeneratorState::created) {
        std::cout << "prime starts a new generator; " << name_ << " is " << generator_.state()
                  << " (try new " << name_ << ")\n";
        return;
      }
      generator_ = prime(std::move(generator_));
      std::cout << name_ << " primed, " << generator_.state() << '\n';
    } else if (verb == "next") {
      report(generator_.next());
    } else if (verb == "send") {
      Sent value{};
      if (argument.empty() || !parse(argument, value)) {
        std::cout << "send needs a value " << name_ << " can take, e.g. send " << name_
                  << (std::is_arithmetic_v<Sent> ? " 10" : " hello") << '\n';
        return;
      }
      report(generator_.send(std::move(value)));
    } else if (verb == "throw") {
      report(generator_.throw_into(Exception{}));
    } else if (verb == "close") {
      generator_.close();
      std::cout << name_ << " closed, " << generator_.state() << '\n';
    } else if (verb == "state") {
      std::cout << generator_.state() << '\n';
    } else if (verb == "result") {
      print_result();
    }
  }

  // What one resumption gave: a yielded value, or the end of the generator.
  void report(const std::optional<Yield>& yielded) const {
    if (yielded) {
      std::cout << name_ << " yielded ";
      print_value(std::cout, *yielded);
      std::cout << '\n';
    } else {
      std::cout << name_ << " finished (Python: StopIteration), " << generator_.state() << '\n';
    }
  }

  void print_result() const {
    if constexpr (std::is_void_v<Return>) {
      std::cout << name_ << " returns nothing: its Return type is void\n";
    } else {
      print_value(std::cout, generator_.result());
      std::cout << '\n';
    }
  }

  std::string name_;
  Factory factory_;
  Generator<Yield, Sent, Return> generator_;
};

// One step of a walkthrough: a sentence of narration, then a command.
struct Step {
  std::string_view narration;  // may be empty
  std::string_view command;
};

class Interpreter {
 public:
  template <typename Exception, typename Yield, typename Sent, typename Return>
  void add(std::string_view name, Generator<Yield, Sent, Return> (*factory)()) {
    targets_.push_back(
        {std::string(name),
         std::make_unique<GeneratorTarget<Exception, Yield, Sent, Return>>(name, factory)});
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

  // One line, "VERB [TARGET [VALUE]]". Returns false for quit.
  bool execute(std::string_view line) {
    const std::string_view verb = next_word(line);
    if (verb.empty()) return true;
    if (verb == "quit" || verb == "exit") return false;
    if (verb == "help") {
      print_help();
      return true;
    }
    if (!is_verb(verb)) {
      std::cout << "unknown command '" << verb << "' (type help)\n";
      return true;
    }
    const std::string_view name = next_word(line);
    Target* target = find(name);
    if (target == nullptr && name.empty()) {
      std::cout << verb << " which generator? (e.g. " << verb << ' ' << targets_.front().name
                << ")\n";
    } else if (target == nullptr) {
      std::cout << "no generator named '" << name << "' (type help)\n";
    } else {
      target->run(verb, trim(line));
    }
    return true;
  }

 private:
  struct Named {
    std::string name;
    std::unique_ptr<Target> target;
  };

  static bool is_verb(std::string_view verb) {
    for (std::string_view known :
         {"new", "prime", "next", "send", "throw", "close", "state", "result"}) {
      if (verb == known) return true;
    }
    return false;
  }

  static std::string_view trim(std::string_view text) {
    const auto first = text.find_first_not_of(" \t\r");
    if (first == std::string_view::npos) return {};
    return text.substr(first, text.find_last_not_of(" \t\r") - first + 1);
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

  Target* find(std::string_view name) const {
    for (const Named& named : targets_) {
      if (named.name == name) return named.target.get();
    }
    return nullptr;
  }

  void print_help() const {
    std::cout << "commands (NAME is one of:";
    for (const Named& named : targets_)
      std::cout << ' ' << named.name;
    std::cout << ")\n"
                 "  new NAME          a fresh generator, GEN_CREATED (nothing runs yet)\n"
                 "  prime NAME        run it to its first co_yield (the course's @coroutine)\n"
                 "  next NAME         resume it; its co_yield evaluates to None (Python: next(g))\n"
                 "  send NAME VALUE   resume it; its co_yield evaluates to VALUE\n"
                 "  throw NAME        raise an exception at its co_yield (Python: g.throw(e)):";
    const char* separator = " ";
    for (const Named& named : targets_) {
      std::cout << std::exchange(separator, ", ") << named.target->exception_name() << " in "
                << named.name;
    }
    std::cout << "\n"
                 "  close NAME        raise GeneratorExit at its co_yield (Python: g.close())\n"
                 "  state NAME        GEN_CREATED, GEN_RUNNING, GEN_SUSPENDED or GEN_CLOSED\n"
                 "  result NAME       what it handed to co_return, once it has finished\n"
                 "  help, quit        this text; leave (so does the end of input)\n";
  }

  std::vector<Named> targets_;
};

}  // namespace lesson5::repl
