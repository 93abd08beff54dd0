// Support code, not the lesson: the interpreter of repl.hpp, and how it reads
// lines (libedit at a terminal).
#include "5_coroutines/repl.hpp"

#include <editline/readline.h>
#include <poll.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>

namespace lesson5::repl {

namespace {

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t\r") - first + 1);
}

// Cuts the first word off `line`.
std::string_view next_word(std::string_view& line) {
  line = trim(line);
  const std::string_view word = line.substr(0, line.find_first_of(" \t"));
  line.remove_prefix(word.size());
  return word;
}

// The text without its blanks: `gen_=gen( )` and `gen_ = gen()` are one statement.
std::string without_blanks(std::string_view text) {
  std::string kept;
  for (const char c : text) {
    if (c != ' ' && c != '\t') kept += c;
  }
  return kept;
}

// A line typed in the course's Python spelling, in the interpreter's words
// (`g.send(v)` is `send g v`, `exit()` is `quit`); any other line as it was.
std::string from_python(std::string_view line) {
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

// One number literal as Python writes it: True and False are 1 and 0, and an
// underscore may stand between two digits (1_000). The REPL's own spelling
// also takes inf and nan, which std::from_chars reads.
bool parse_literal(std::string_view text, double& value) {
  text = trim(text);
  if (text == "True" || text == "False") {
    value = text == "True" ? 1 : 0;
    return true;
  }
  if (text.starts_with('+')) text.remove_prefix(1);  // from_chars takes no '+'
  std::string digits;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto is_digit = [&text](std::size_t at) {
      return at < text.size() && text[at] >= '0' && text[at] <= '9';
    };
    if (text[i] != '_') {
      digits += text[i];
    } else if (i == 0 || !is_digit(i - 1) || !is_digit(i + 1)) {
      return false;
    }
  }
  const char* last = digits.data() + digits.size();
  const auto [end, error] = std::from_chars(digits.data(), last, value);
  return !digits.empty() && error == std::errc() && end == last;
}

// Set by SIGINT: Ctrl-C at the terminal.
volatile sig_atomic_t interrupted = 0;
// Set by SIGCONT: `fg` after Ctrl-Z stopped us.
volatile sig_atomic_t continued = 0;

void on_interrupt(int) {
  interrupted = 1;
}

void on_continue(int) {
  continued = 1;
}

// The settings libedit gives the terminal while it reads a line, noted at
// the first key it asks for.
std::optional<termios> editing_settings;

// Ctrl-Z stopped us while libedit read a line, and the shell gave the
// terminal back its own settings, which `fg` does not undo: it would echo
// each key twice. So libedit's settings go back, and it redraws the line.
void resume_editing() {
  tcsetattr(STDIN_FILENO, TCSANOW, &editing_settings.value());
  rl_forced_update_display();
}

// libedit's way to read a key: waits for one, or the end of input. Ctrl-C
// (SIGINT) counts as an end of input too, so that readline() returns, and
// `interrupted` says which it was. SIGINT and SIGCONT are blocked but while
// ppoll() waits, which unblocks them as it starts waiting: one that comes
// between a look at the flags and the wait cannot be missed.
int read_key(FILE*) {
  if (!editing_settings) {
    editing_settings.emplace();
    tcgetattr(STDIN_FILENO, &*editing_settings);
  }
  sigset_t while_waiting;
  sigprocmask(SIG_SETMASK, nullptr, &while_waiting);
  sigdelset(&while_waiting, SIGINT);
  sigdelset(&while_waiting, SIGCONT);
  pollfd terminal{STDIN_FILENO, POLLIN, 0};
  while (interrupted == 0) {
    if (continued != 0) {
      continued = 0;
      resume_editing();
    }
    if (ppoll(&terminal, 1, nullptr, &while_waiting) == 1) {
      unsigned char key = 0;
      return ::read(STDIN_FILENO, &key, 1) == 1 ? key : EOF;
    }
    if (errno != EINTR) return EOF;
  }
  return EOF;
}

// The terminal's settings when the interpreter started, which libedit
// changes while it reads a line.
termios terminal_settings{};

// libedit prints the prompt, and only then stops the terminal from echoing
// keys itself: a key typed in between would show twice. So we stop it first.
// libedit puts back the settings it found once the line is read, and we put
// back the terminal's own.
void stop_terminal_echo() {
  termios settings = terminal_settings;
  settings.c_lflag &= ~(ECHO | ICANON);
  tcsetattr(STDIN_FILENO, TCSANOW, &settings);
}

void restore_terminal() {
  tcsetattr(STDIN_FILENO, TCSANOW, &terminal_settings);
}

// The next line typed at the terminal, edited with libedit and kept in its
// history; nullopt at Ctrl-D. Ctrl-C prints KeyboardInterrupt and asks again,
// as Python does.
std::optional<std::string> read_line_at_terminal() {
  while (true) {
    interrupted = 0;
    stop_terminal_echo();
    const std::unique_ptr<char, decltype(&std::free)> line(readline(">>> "), &std::free);
    restore_terminal();
    if (interrupted) {
      std::cout << "\nKeyboardInterrupt" << std::endl;
      continue;
    }
    if (line == nullptr) {
      std::cout << std::endl;  // Ctrl-D: Python, too, ends the line
      return std::nullopt;
    }
    if (*line.get() != '\0') add_history(line.get());
    return std::string(line.get());
  }
}

// libedit asks for one key at a time, which read_key() waits for. libedit's
// own handlers (rl_catch_signals) would re-raise SIGINT, whose default ends
// the program; without them, SIGCONT is ours to handle too.
void set_up_terminal() {
  rl_catch_signals = 0;
  rl_getc_function = read_key;
  struct sigaction action {};
  sigemptyset(&action.sa_mask);
  action.sa_handler = on_interrupt;
  sigaction(SIGINT, &action, nullptr);
  action.sa_handler = on_continue;
  sigaction(SIGCONT, &action, nullptr);
  sigset_t handled;
  sigemptyset(&handled);
  sigaddset(&handled, SIGINT);
  sigaddset(&handled, SIGCONT);
  sigprocmask(SIG_BLOCK, &handled, nullptr);
  tcgetattr(STDIN_FILENO, &terminal_settings);
  rl_initialize();  // libedit edits only a terminal that echoes when it starts
}

// "# " and the text, wrapped at 78 columns.
void print_narration(std::string_view text) {
  std::cout << '\n';
  text = trim(text);
  while (!text.empty()) {
    std::string_view line = text.substr(0, 76);
    if (line.size() < text.size()) line = line.substr(0, line.rfind(' '));
    std::cout << "# " << line << '\n';
    text = trim(text.substr(line.size()));
  }
}

bool is_verb(std::string_view verb) {
  for (std::string_view known : {"new", "next", "send", "throw", "close", "state", "result"}) {
    if (verb == known) return true;
  }
  return false;
}

}  // namespace

bool parse(std::string_view text, std::string& value) {
  const bool quoted = text.size() >= 2 && (text.front() == '\'' || text.front() == '"') &&
                      text.back() == text.front();
  if (quoted) text = text.substr(1, text.size() - 2);
  value = text;
  return quoted || !text.empty();
}

// A literal, or one literal divided or multiplied by another, as Python
// computes them (1/3 is 0.333..., and 1/0 raises ZeroDivisionError).
bool parse(std::string_view text, double& value) {
  const std::size_t sign = text.find_first_not_of(" \t+-");
  const std::size_t operation = text.find_first_of("/*", sign == std::string_view::npos ? 0 : sign);
  if (operation == std::string_view::npos) return parse_literal(text, value);
  double left = 0;
  double right = 0;
  if (!parse_literal(text.substr(0, operation), left) ||
      !parse_literal(text.substr(operation + 1), right)) {
    return false;
  }
  if (text[operation] == '*') {
    value = left * right;
  } else if (right == 0) {
    throw ZeroDivisionError();
  } else {
    value = left / right;
  }
  return true;
}

// For a float, the fewest digits that read back as the same double, which
// to_chars finds too. Python writes them out in full from 1e-4 up to 1e16,
// with ".0" after a whole number (0.0001, 1234567.0), and in exponent form
// beyond (1e-05, 1e+16), as to_chars does in `scientific`.
std::string repr(double value) {
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

std::string repr(const std::string& value) {
  return '\'' + value + '\'';
}

std::string repr(None) {
  return "None";
}

Interpreter::Interpreter() {
  add_exception<Exception>();
  exceptions_.push_back({"GeneratorExit", std::make_exception_ptr(GeneratorExit{})});
}

void Interpreter::run_interactive() {
  // As Python does, line editing when both ends are a terminal.
  const bool at_terminal = isatty(STDIN_FILENO) == 1 && isatty(STDOUT_FILENO) == 1;
  if (at_terminal) {
    set_up_terminal();
    while (const std::optional<std::string> line = read_line_at_terminal()) {
      if (!execute(*line)) break;
    }
    return;
  }
  const bool prompt = isatty(STDIN_FILENO) == 1;  // a person types, and the output goes elsewhere
  std::string line;
  while (true) {
    if (prompt) std::cout << ">>> " << std::flush;
    if (!std::getline(std::cin, line) || !execute(line)) break;
  }
}

void Interpreter::run(std::span<const Step> steps) {
  for (const Step& step : steps) {
    if (!step.narration.empty()) print_narration(step.narration);
    std::cout << ">>> " << step.command << '\n';
    execute(step.command);
  }
}

// One line, "VERB [NAME [VALUE]]" or its Python spelling. Returns false for quit.
bool Interpreter::execute(std::string_view typed) {
  std::string line = from_python(typed);
  if (const Named* target = assigned(typed)) {
    if (!made_by(*target, typed)) {
      std::cout << target->name << " can only be made as the program made it: " << target->made_by
                << '\n';
      return true;
    }
    line = "new " + target->name;
  }
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

// The generator that `line` assigns to, as in `gen_ = gen()`; nullptr for
// any other line.
const Interpreter::Named* Interpreter::assigned(std::string_view line) const {
  const std::size_t equals = line.find('=');
  if (equals == std::string_view::npos) return nullptr;
  return find(trim(line.substr(0, equals)));
}

// Whether `line` is one of the Python statements that made the target, which
// its made_by lists, separated by "; ".
bool Interpreter::made_by(const Named& target, std::string_view line) {
  if (without_blanks(target.made_by) == without_blanks(line)) return true;
  std::string_view statements = target.made_by;
  while (true) {
    const std::size_t end = statements.find(';');
    if (without_blanks(statements.substr(0, end)) == without_blanks(line)) return true;
    if (end == std::string_view::npos) return false;
    statements.remove_prefix(end + 1);
  }
}

const Interpreter::Named* Interpreter::find(std::string_view name) const {
  for (const Named& named : targets_) {
    if (named.name == name) return &named;
  }
  return nullptr;
}

// Python accepts the class, StopIteration, or an instance, StopIteration().
std::exception_ptr Interpreter::find_exception(std::string_view name) const {
  if (name.ends_with("()")) name.remove_suffix(2);
  for (const NamedException& named : exceptions_) {
    if (named.name == name) return named.exception;
  }
  return nullptr;
}

std::string Interpreter::exception_names() const {
  std::string names;
  for (const NamedException& exception : exceptions_)
    names += (names.empty() ? " " : ", ") + exception.name;
  return names;
}

void Interpreter::print_help() const {
  std::cout << "commands (NAME is one of:";
  for (const Named& named : targets_)
    std::cout << ' ' << named.name;
  std::cout << ")\n"
               "  state NAME            GEN_CREATED, GEN_RUNNING, GEN_SUSPENDED or GEN_CLOSED\n"
               "  next NAME             resume it; its co_yield evaluates to None\n"
               "  send NAME VALUE       resume it; its co_yield evaluates to VALUE, which is\n"
               "                        None (as next), a number as Python writes it, or text\n"
               "  throw NAME EXCEPTION  raise EXCEPTION at its co_yield; one of:\n"
               "                       "
            << exception_names()
            << "\n"
               "  close NAME            raise GeneratorExit at its co_yield\n"
               "  result NAME           what it handed to co_return, once it has finished\n"
               "  new NAME              make it again, as the program did at the start\n"
               "  help, quit            this text; leave (so do Ctrl-D and the end of input)\n"
               "The course's Python spelling works too: getgeneratorstate(NAME), next(NAME),\n"
               "NAME.send(VALUE), NAME.throw(EXCEPTION), NAME.close(), exit(), and the\n"
               "statements that made the generators, which make them again:\n"
               "  "
            << made_by_all() << '\n';
}

// "gen_ = gen(); avg = average()": what made every generator, each statement once.
std::string Interpreter::made_by_all() const {
  std::string all;
  for (const Named& named : targets_) {
    if (all.find(named.made_by) != std::string::npos) continue;
    all += (all.empty() ? "" : "; ") + named.made_by;
  }
  return all;
}

}  // namespace lesson5::repl
