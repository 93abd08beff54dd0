// --timeline FILE: what a program's loop did and when, in the Trace Event
// Format (the JSON that Perfetto's UI and chrome://tracing open), so that a
// reader can see who was served when instead of inferring it from --trace.
// The Tracer (command_line.hpp) feeds it from the same calls that narrate
// --trace; a lesson says each thing once.
//
// The file has a track for the loop and one for each connection: a new one
// for every connection, as descriptor numbers are reused. The program has
// one thread, doing one thing at a time, and the Timeline follows it:
// - the loop's track shows each wait (in select(), epoll_wait(), accept(),
//   recv()...) from wait() to the next event, which is what woke it;
// - a connection's track alternates "run" (the thread works for it: from
//   run(), or from its first event since the thread did something else,
//   until the thread turns elsewhere) and "wait" (it does not); reads,
//   writes, notes, its opening and its closing are marks on it.
#pragma once

#include <chrono>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace common {

enum class EventKind { note, wait, open, run, read, write, close };

// One per program, used from its one thread.
class Timeline {
 public:
  // The key of events about the loop rather than one connection.
  static constexpr int loop = -1;

  // Creates or empties the file; throws std::system_error if it cannot.
  explicit Timeline(const std::string& path);
  // Ends what is still going on and closes the JSON: a program that returns
  // from main(), at Ctrl-C too, leaves a complete file.
  ~Timeline();
  Timeline(const Timeline&) = delete;
  Timeline& operator=(const Timeline&) = delete;

  // Records that something happened now. `key` is a connection's descriptor,
  // from open(key) until close(key); any other key (the listener, the stop
  // pipe, `loop`) stands for the loop.
  void record(EventKind kind, int key, std::string_view narration);

 private:
  using Clock = std::chrono::steady_clock;
  struct Connection {
    int track;
    std::optional<Clock::time_point> waiting_since;  // empty while the thread runs for it
  };
  // What the thread is doing: waiting (on the loop's track) or running for a
  // track. Nothing: the loop's own bookkeeping, which has no slice.
  struct Activity {
    EventKind kind;  // wait or run
    int key;
    int track;
    Clock::time_point start;
    std::string narration;
  };

  void open_track(int key, Clock::time_point now);
  void close_track(int key, Clock::time_point now);
  void start_run(int key, int track, Clock::time_point now, std::string_view narration);
  void finish_activity(Clock::time_point now, std::string_view woken_by = {});
  void emit_wait(int track, Clock::time_point start, Clock::time_point end);

  void write_metadata(std::string_view name, int track, std::string_view argument);
  void write_slice(std::string_view name, int track, Clock::time_point start, Clock::time_point end,
                   std::string_view narration, std::string_view woken_by);
  void write_mark(EventKind kind, int track, Clock::time_point at, std::string_view narration);
  void write_event(const std::string& json);
  void append_time(std::string& json, std::string_view field, Clock::duration since_start) const;

  std::string path_;
  std::ofstream file_;
  Clock::time_point start_;
  bool first_event_ = true;
  std::unordered_map<int, Connection> connections_;  // open connections, by key
  int next_track_;
  std::optional<Activity> activity_;
};

}  // namespace common
