// Flag parsing and --trace and --timeline output, shared by every program so that each
// lesson's main() stays a few lines long and all programs answer alike.
#pragma once

#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
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

// What an event is about: a descriptor, or a Track (timeline.hpp).
template <typename Key>
concept TrackKey = std::convertible_to<Key, Track>;

// What a loop does, told once and shown two ways: narrated on standard error
// for --trace, and drawn in a Timeline (timeline.hpp) for --timeline.
//
// trace("stopping") narrates the loop; trace.wait(...) says that the loop is
// about to block (the next event is what woke it). The others are about one
// connection, named by its descriptor, and print "fd N: " before the rest:
// trace.open(fd, ...) when it begins, trace.run(fd, ...) when a callback or
// task runs for it, trace.wait(fd, ...) when it goes back to waiting (the
// rest says for what), trace.read, trace.write and trace.note while it is
// served, trace.close(fd, ...) before its descriptor closes. What is no
// connection (a task, a download) is named by a Track instead of a
// descriptor, trace.run(common::Track("task", 2), ...), and prints "task 2: ".
//
// Event loops call it on every event, so the check is all that is inlined:
// with both off an event costs a test and a jump. Nothing is formatted (a
// descriptor does not even become a Track), and the compiler may leave out
// parts that are inline functions without side effects (lesson3::describe(),
// say). Copies share the Timeline; the last one to go closes its file.
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
  void wait(const First& first, const Parts&... parts) const requires(!TrackKey<First>) {
    if (enabled_) record<EventKind::wait>(Timeline::loop, first, parts...);
  }
  template <TrackKey Key, typename... Parts>
  void wait(Key key, const Parts&... parts) const {
    if (enabled_) record<EventKind::wait>(key, parts...);
  }
  template <TrackKey Key, typename... Parts>
  void open(Key key, const Parts&... parts) const {
    if (enabled_) record<EventKind::open>(key, parts...);
  }
  template <TrackKey Key, typename... Parts>
  void run(Key key, const Parts&... parts) const {
    if (enabled_) record<EventKind::run>(key, parts...);
  }
  template <TrackKey Key, typename... Parts>
  void read(Key key, const Parts&... parts) const {
    if (enabled_) record<EventKind::read>(key, parts...);
  }
  template <TrackKey Key, typename... Parts>
  void write(Key key, const Parts&... parts) const {
    if (enabled_) record<EventKind::write>(key, parts...);
  }
  template <TrackKey Key, typename... Parts>
  void note(Key key, const Parts&... parts) const {
    if (enabled_) record<EventKind::note>(key, parts...);
  }
  template <TrackKey Key, typename... Parts>
  void close(Key key, const Parts&... parts) const {
    if (enabled_) record<EventKind::close>(key, parts...);
  }

 private:
  template <EventKind kind, typename Key, typename... Parts>
  [[gnu::noinline]] void record(Key key, const Parts&... parts) const {
    const Track track(key);
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
