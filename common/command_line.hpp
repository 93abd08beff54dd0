// Flag parsing and --trace output, shared by every program so that each
// lesson's main() stays a few lines long and all programs answer alike.
#pragma once

#include <cstdint>
#include <functional>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

namespace common {

// A tiny "--name value" parser. --help prints the usage and exits 0; an
// unknown flag, a missing value or a bad number prints one line on standard
// error and exits 2, as the contract says.
class CommandLine {
 public:
  CommandLine(std::string_view program, std::string_view summary);

  void flag(std::string_view name, std::string_view help, bool& value);
  void option(std::string_view name, std::string_view help, std::string& value);
  // The same, for a value that `accept` must find well-formed.
  void option(std::string_view name, std::string_view help, std::string& value,
              std::function<bool(std::string_view)> accept);
  void option(std::string_view name, std::string_view help, long& value, long min, long max);
  void option(std::string_view name, std::string_view help, std::uint16_t& value);

  void parse(int argc, char** argv) const;
  [[noreturn]] void fail(std::string_view message) const;

 private:
  struct Option {
    std::string name;
    std::string help;
    std::string default_text;                   // shown by --help; empty for flags
    std::function<bool(std::string_view)> set;  // false: the value is malformed
    bool takes_value = true;
  };

  void print_usage() const;

  std::string program_;
  std::string summary_;
  std::vector<Option> options_;
};

// The flags every echo server takes: --host, --port, --trace (and --help).
struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 5000;
  bool trace = false;
};
void add_server_options(CommandLine& command_line, ServerOptions& options);

// Narration for --trace: trace("ready: fd ", fd) prints one line on standard
// error, or nothing when tracing is off. Event loops call it on every event,
// so the check is all that is inlined: with tracing off a trace line costs a
// test and a jump, and parts that are inline functions without side effects
// (lesson3::describe(), say) are not even computed.
class Tracer {
 public:
  explicit Tracer(bool enabled) : enabled_(enabled) {}

  template <typename... Parts>
  void operator()(const Parts&... parts) const {
    if (enabled_) print(parts...);
  }

 private:
  template <typename... Parts>
  [[gnu::noinline]] static void print(const Parts&... parts) {
    ((std::cerr << "trace: ") << ... << parts) << '\n';
  }

  bool enabled_;
};

}  // namespace common
