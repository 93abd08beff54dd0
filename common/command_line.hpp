// Flag parsing, shared by every program so that each lesson's main() stays a
// few lines long and all programs answer alike.
#pragma once

#include <cstdint>
#include <functional>
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
  // Any value, or one that `accept`, if given, finds well-formed.
  void option(std::string_view name, std::string_view help, std::string& value,
              std::function<bool(std::string_view)> accept = {});
  void option(std::string_view name, std::string_view help, long& value, long min, long max);
  void option(std::string_view name, std::string_view help, std::uint16_t& value);

  // --trace and --timeline FILE, which parse() hands to the observer
  // (observer/observer.hpp): the program itself does nothing with them.
  void add_observer_options();

  // Reads every flag, then starts the observer if asked to; a timeline file
  // that cannot be created ends the program with one line and exit code 1.
  void parse(int argc, char** argv);
  [[noreturn]] void fail(std::string_view message) const;

 private:
  struct Option {
    std::string name;
    std::string value_name;  // for --help; empty for a flag
    std::string help;
    std::string default_text;                   // shown by --help unless empty
    std::function<bool(std::string_view)> set;  // false: the value is malformed
  };

  void print_usage() const;

  std::string program_;
  std::string summary_;
  std::vector<Option> options_;
  bool narrate_ = false;
  std::string timeline_path_;
};

// The flags every server takes: --host, --port, and the observer's --trace
// and --timeline (and --help).
struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 5000;
};
void add_server_options(CommandLine& command_line, ServerOptions& options);

}  // namespace common
