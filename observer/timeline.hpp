// --timeline FILE: what a program's loop did and when, in the Trace Event
// Format (the JSON that Perfetto's UI and chrome://tracing open), so that a
// reader can see who was served when instead of inferring it from --trace.
// observer.hpp feeds it from the same calls that narrate --trace.
//
// The file has a track for the loop and one for each connection (or task,
// or transfer: see Track): a new one each time one opens, as descriptor
// numbers are reused. The program has one thread, doing one thing at a
// time, and the Timeline follows it:
// - the loop's track shows each wait (in select(), epoll_wait(), accept(),
//   recv()...) from wait() to the next event, which is what woke it;
// - a connection's track alternates "run" (the thread works for it: from
//   run(), or from its first event since the thread did something else,
//   until the thread turns elsewhere) and "wait" (it does not; from a wait()
//   of its own on, the wait says what for); reads, writes, notes, its
//   opening and its closing are marks on it.
#pragma once

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace observer {

enum class EventKind { note, wait, open, run, read, write, close };

// What an event is about. Usually a connection, by its descriptor, so a
// descriptor converts to a Track (observer::read(fd, ...)); its track is
// named after the peer it serves, "127.0.0.1:48746 (fd 8)". Anything else that a program numbers
// itself is a noun and a number, Track("task", 2) or Track("image", 7), and its track is named so:
// "task 2", "image 7". Either is a track of its own only from open() until close(); until then, and
// for a negative number (a task that has no descriptor yet, say), its events are the loop's.
//
// The noun is a string literal (a const char*, not a std::string_view), so
// that a Track fits in two registers, as a pair of numbers does.
struct Track {
  constexpr Track(int fd) : noun("fd"), number(fd) {}
  constexpr Track(const char* what, long which) : noun(what), number(which) {}

  const char* noun;
  long number;
};

// One per program, used from its one thread.
class Timeline {
 public:
  // What events about the loop itself are recorded under.
  static constexpr Track loop{"loop", -1};

  // Writes into a hidden file beside `path` (".NAME.XXXXXX"), which
  // finish() renames to `path`: the file is complete or absent, and the one
  // that was there stays until then. `path` may be missing or a regular
  // file; a link, a pipe, a device or a folder is refused, as is a folder
  // that cannot be written to: std::system_error says why.
  explicit Timeline(const std::string& path);
  // Without finish(), the hidden file is removed. Only a program ended
  // outright (SIGKILL, a crash, a stop signal before its handlers are in
  // place) leaves it behind.
  ~Timeline();
  Timeline(const Timeline&) = delete;
  Timeline& operator=(const Timeline&) = delete;

  // Ends what is still going on, closes the JSON and renames the file into
  // place. A timeline in which nothing happened (a server that could not
  // listen) replaces nothing. Returns 0, or the errno of what failed.
  int finish();

  // What the thread's own track is called: "loop" unless a program without
  // one says otherwise (lesson 1's thread is the "server").
  void name_thread(std::string_view name) { thread_name_ = name; }

  // Records that something happened now. A wait of the loop means that the
  // loop blocks; a wait of an open track, that it waits (the narration says
  // for what); a wait of a track that is not open is a mark of the loop.
  void record(EventKind kind, Track track, std::string_view narration);

 private:
  using Clock = std::chrono::steady_clock;
  struct OpenTrack {
    int tid;
    Clock::time_point waiting_since;  // unless the thread runs for it now
    std::string waiting_for;          // what its last wait() said
  };
  // What the thread is doing: waiting (on the loop's track) or running for a
  // track. Nothing: the loop's own bookkeeping, which has no slice.
  struct Activity {
    EventKind kind;   // wait or run
    std::string key;  // of the open track it runs for; empty for the loop
    int tid;
    Clock::time_point start;
    std::string narration;
  };

  void open_track(const std::string& key, Track track, Clock::time_point now);
  void close_track(const std::string& key, Clock::time_point now);
  void start_run(const std::string& key, int tid, Clock::time_point now,
                 std::string_view narration);
  void start_waiting(const std::string& key, Clock::time_point now, std::string_view narration);
  void finish_track_slice(const std::string& key, Clock::time_point now);
  void finish_activity(Clock::time_point now, std::string_view woken_by = {});

  void write_metadata(std::string_view name, int tid, std::string_view argument);
  void write_slice(std::string_view name, int tid, Clock::time_point start, Clock::time_point end,
                   std::string_view narration, std::string_view woken_by);
  void write_mark(EventKind kind, int tid, Clock::time_point at, std::string_view narration);
  void write_event(const std::string& json);
  void append_time(std::string& json, std::string_view field, Clock::duration since_start) const;

  std::string path_;
  std::string hidden_path_;  // where it is written until finish()
  std::FILE* file_ = nullptr;
  int error_ = 0;  // the first write that failed
  Clock::time_point start_;
  bool first_event_ = true;
  std::unordered_map<std::string, OpenTrack> open_tracks_;  // by key: "fd 8", "task 2"
  bool anything_happened_ = false;
  std::string thread_name_ = "loop";
  int next_tid_;
  std::optional<Activity> activity_;
};

}  // namespace observer
