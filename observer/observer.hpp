// What --trace and --timeline show. The machinery of each lesson (lesson 3's
// Selector, lesson 4's Scheduler, lesson 6's event loop, the socket calls of
// common/) reports here what it does, so that the lessons' programs need not:
// narrated on standard error for --trace, drawn in a Timeline (timeline.hpp)
// for --timeline. CommandLine::parse() (common/command_line.hpp) starts it
// when a program is given either flag; otherwise every call is one test of a
// flag, and nothing is formatted.
//
// observer::note("stopping") narrates the loop; observer::wait(...) says that
// the loop is about to block (the next event is what woke it). The others are
// about one connection, named by its descriptor, and print "fd N: " before
// the rest: open(fd, ...) when it begins, run(fd, ...) when a callback or task
// runs for it, wait(fd, ...) when it goes back to waiting (the rest says for
// what), read, write and note while it is served, close(fd, ...) as its
// descriptor closes. What is no connection (a task, a download) is named by
// a Track instead, observer::run(observer::Track("task", 2), ...), and prints
// "task 2: ".
#pragma once

#include <concepts>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>

#include "observer/timeline.hpp"

namespace observer {

// Starts observing: narration on standard error if `narrate`, and a timeline
// written to `timeline_path` unless it is empty (its file is created now, and
// std::system_error thrown if it cannot be). At exit, or at stop(), the
// timeline is finished.
void start(bool narrate, const std::string& timeline_path);
// What the timeline calls the thread's own track: "loop" unless a program
// whose thread runs no loop says otherwise (lesson 1: "server").
void name_thread(std::string_view name);
// Stops observing and finishes the timeline; false, after one line on
// standard error, if its file could not be written in full.
bool stop();

namespace detail {
// Whether anything observes: the one thing every event checks inline.
inline bool observing = false;

void publish(EventKind kind, Track track, const std::string& narration);

template <typename... Parts>
[[gnu::noinline]] void record(EventKind kind, Track track, const Parts&... parts) {
  std::ostringstream narration;
  if (track.number >= 0) narration << track.noun << ' ' << track.number << ": ";
  (narration << ... << parts);
  publish(kind, track, std::move(narration).str());
}
}  // namespace detail

// What an event is about: a descriptor (an int) or a Track, and nothing else,
// so that a number or a character that begins a narration is never taken for
// a descriptor.
template <typename Key>
concept TrackKey = std::same_as<Key, int> || std::same_as<Key, Track>;

// About the loop itself. A first part that is a descriptor (or a Track) calls
// the versions below instead.
template <typename First, typename... Parts>
void note(const First& first, const Parts&... parts) requires(!TrackKey<First>) {
  if (detail::observing) detail::record(EventKind::note, Timeline::loop, first, parts...);
}
template <typename First, typename... Parts>
void wait(const First& first, const Parts&... parts) requires(!TrackKey<First>) {
  if (detail::observing) detail::record(EventKind::wait, Timeline::loop, first, parts...);
}

// About one connection, task or transfer.
template <TrackKey Key, typename... Parts>
void open(Key key, const Parts&... parts) {
  if (detail::observing) detail::record(EventKind::open, key, parts...);
}
template <TrackKey Key, typename... Parts>
void run(Key key, const Parts&... parts) {
  if (detail::observing) detail::record(EventKind::run, key, parts...);
}
template <TrackKey Key, typename... Parts>
void wait(Key key, const Parts&... parts) {
  if (detail::observing) detail::record(EventKind::wait, key, parts...);
}
template <TrackKey Key, typename... Parts>
void read(Key key, const Parts&... parts) {
  if (detail::observing) detail::record(EventKind::read, key, parts...);
}
template <TrackKey Key, typename... Parts>
void write(Key key, const Parts&... parts) {
  if (detail::observing) detail::record(EventKind::write, key, parts...);
}
template <TrackKey Key, typename... Parts>
void note(Key key, const Parts&... parts) {
  if (detail::observing) detail::record(EventKind::note, key, parts...);
}
template <TrackKey Key, typename... Parts>
void close(Key key, const Parts&... parts) {
  if (detail::observing) detail::record(EventKind::close, key, parts...);
}

}  // namespace observer
