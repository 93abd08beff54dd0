// Flag parsing and --trace and --timeline output, shared by every program so that each
// lesson's main() stays a few lines long and all programs answer alike.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "common/timeline.hpp"

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

// The flags every echo server takes: --host, --port, --trace, --timeline
// (and --help).
struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 5000;
  bool trace = false;
  std::string timeline;  // empty: none
};
void add_server_options(CommandLine& command_line, ServerOptions& options);
// --timeline FILE alone, for programs that are not echo servers.
void add_timeline_option(CommandLine& command_line, std::string& path);

// What a loop does, told once and shown two ways: narrated on standard error
// for --trace, and drawn in a Timeline (timeline.hpp) for --timeline.
//
// trace("stopping") narrates the loop; trace.wait(...) says that the loop is
// about to block (the next event is what woke it). The others are about one
// connection, named by its descriptor, and print "fd N: " before the rest:
// trace.open(fd, ...) when it begins, trace.run(fd, ...) when a callback or
// task runs for it, trace.wait(fd, ...) when it goes back to waiting (for
// what: the rest), trace.read, trace.write and trace.note while it is
// served, trace.close(fd, ...) before its descriptor closes. What is not a
// connection (a task, a download) takes a Track instead of the descriptor,
// trace.run({"task", 2}, ...), and prints "task 2: ".
//
// Event loops call it on every event, so the check is all that is inlined:
// with both off an event costs a test and a jump, and parts that are inline
// functions without side effects (lesson3::describe(), say) are not even
// computed. Copies share the Timeline; the last one to go closes its file.
class Tracer {
 public:
  // Creates the timeline's file unless timeline_path is empty; throws
  // std::system_error if it cannot.
  explicit Tracer(bool narrate, const std::string& timeline_path = {});

  template <typename... Parts>
  void operator()(const Parts&... parts) const {
    if (enabled_) record<EventKind::note>(Timeline::loop, parts...);
  }
  // The loop's wait; a first part that is a descriptor (or a Track) calls
  // the wait below instead.
  template <typename First, typename... Parts>
  requires(!std::is_convertible_v<const First&, Track>) void wait(const First& first,
                                                                  const Parts&... parts) const {
    if (enabled_) record<EventKind::wait>(Timeline::loop, first, parts...);
  }
  template <typename... Parts>
  void wait(Track track, const Parts&... parts) const {
    if (enabled_) record<EventKind::wait>(track, parts...);
  }
  template <typename... Parts>
  void open(Track track, const Parts&... parts) const {
    if (enabled_) record<EventKind::open>(track, parts...);
  }
  template <typename... Parts>
  void run(Track track, const Parts&... parts) const {
    if (enabled_) record<EventKind::run>(track, parts...);
  }
  template <typename... Parts>
  void read(Track track, const Parts&... parts) const {
    if (enabled_) record<EventKind::read>(track, parts...);
  }
  template <typename... Parts>
  void write(Track track, const Parts&... parts) const {
    if (enabled_) record<EventKind::write>(track, parts...);
  }
  template <typename... Parts>
  void note(Track track, const Parts&... parts) const {
    if (enabled_) record<EventKind::note>(track, parts...);
  }
  template <typename... Parts>
  void close(Track track, const Parts&... parts) const {
    if (enabled_) record<EventKind::close>(track, parts...);
  }

 private:
  template <EventKind kind, typename... Parts>
  [[gnu::noinline]] void record(Track track, const Parts&... parts) const {
    std::ostringstream narration;
    if (track.number >= 0) narration << track.noun << ' ' << track.number << ": ";
    (narration << ... << parts);
    publish(kind, track, std::move(narration).str());
  }
  void publish(EventKind kind, Track track, const std::string& narration) const;

  bool enabled_;  // narrate_ or a timeline: the one thing an event checks inline
  bool narrate_;
  std::shared_ptr<Timeline> timeline_;
};

}  // namespace common
