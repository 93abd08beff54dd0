#include "common/command_line.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <exception>
#include <iostream>

#include "observer/observer.hpp"

namespace common {

namespace {

// Whether `text` is a whole number from `min` to `max`; if so, it is stored.
template <typename Number>
bool store_number(std::string_view text, long min, long max, Number& value) {
  long number = 0;
  const char* end = text.data() + text.size();
  const auto [last, error] = std::from_chars(text.data(), end, number);
  if (error != std::errc() || last != end || number < min || number > max) return false;
  value = static_cast<Number>(number);
  return true;
}

}  // namespace

CommandLine::CommandLine(std::string_view program, std::string_view summary)
    : program_(program), summary_(summary) {}

void CommandLine::flag(std::string_view name, std::string_view help, bool& value) {
  options_.push_back({std::string(name), "", std::string(help), "", [&value](std::string_view) {
                        value = true;
                        return true;
                      }});
}

void CommandLine::option(std::string_view name, std::string_view help, std::string& value,
                         std::function<bool(std::string_view)> accept) {
  options_.push_back({std::string(name), "VALUE", std::string(help), value,
                      [&value, accept = std::move(accept)](std::string_view text) {
                        if (accept && !accept(text)) return false;
                        value = text;
                        return true;
                      }});
}

void CommandLine::option(std::string_view name, std::string_view help, long& value, long min,
                         long max) {
  options_.push_back(
      {std::string(name), "VALUE", std::string(help), std::to_string(value),
       [&value, min, max](std::string_view text) { return store_number(text, min, max, value); }});
}

void CommandLine::option(std::string_view name, std::string_view help, std::uint16_t& value) {
  options_.push_back(
      {std::string(name), "VALUE", std::string(help), std::to_string(value),
       [&value](std::string_view text) { return store_number(text, 0, 65535, value); }});
}

void CommandLine::add_observer_options() {
  flag("--trace", "narrate what the program does, on standard error", narrate_);
  option("--timeline",
         "write what the program did to FILE, for Perfetto's UI or chrome://tracing "
         "(about 1 KB per message served)",
         timeline_path_, [](std::string_view text) { return !text.empty(); });
  options_.back().value_name = "FILE";
}

void CommandLine::parse(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view word = argv[i];
    if (word == "--help" || word == "-h") {
      print_usage();
      std::exit(0);
    }
    const auto option = std::ranges::find(options_, word, &Option::name);
    if (option == options_.end()) fail("unknown argument '" + std::string(word) + "'");
    const bool takes_value = !option->value_name.empty();
    if (takes_value && i + 1 == argc) fail(option->name + " needs a value");
    const std::string_view value = takes_value ? argv[++i] : "";
    if (!option->set(value)) fail("bad value '" + std::string(value) + "' for " + option->name);
  }
  try {
    observer::start(narrate_, timeline_path_);
  } catch (const std::exception& error) {
    std::cerr << program_ << ": " << error.what() << '\n';
    std::exit(1);
  }
}

void CommandLine::fail(std::string_view message) const {
  std::cerr << program_ << ": " << message << " (try --help)\n";
  std::exit(2);
}

void CommandLine::print_usage() const {
  std::cout << "usage: " << program_ << " [options]\n\n" << summary_ << "\n\noptions:\n";
  for (const Option& option : options_) {
    std::string left = "  " + option.name;
    if (!option.value_name.empty()) left += " " + option.value_name;
    left.resize(std::max<std::size_t>(left.size() + 2, 24), ' ');
    std::cout << left << option.help;
    if (!option.default_text.empty()) std::cout << " (default: " << option.default_text << ")";
    std::cout << '\n';
  }
  std::cout << "  --help                show this help and exit\n";
}

void add_server_options(CommandLine& command_line, ServerOptions& options) {
  // Checked here, so that a host name such as "localhost" is a bad argument
  // (exit 2) rather than a failure to listen.
  command_line.option("--host", "IPv4 address to listen on", options.host,
                      [](std::string_view text) {
                        in_addr address{};
                        return inet_pton(AF_INET, std::string(text).c_str(), &address) == 1;
                      });
  command_line.option("--port", "port to listen on; 0 picks a free one", options.port);
  command_line.add_observer_options();
}

}  // namespace common
