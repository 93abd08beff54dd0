#include "common/timeline.hpp"

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <iostream>
#include <system_error>

namespace common {

namespace {

// The process is pid 1 and the loop's track is its main thread (tid 1), so
// that a viewer lists the loop first; connections get tids 2, 3...
constexpr int loop_track = 1;

std::string_view name_of(EventKind kind) {
  switch (kind) {
    case EventKind::note:
      return "note";
    case EventKind::wait:
      return "wait";
    case EventKind::open:
      return "open";
    case EventKind::run:
      return "run";
    case EventKind::read:
      return "read";
    case EventKind::write:
      return "write";
    case EventKind::close:
      return "close";
  }
  return "note";
}

// A JSON string. Narration is ASCII; any other byte is written as the Latin-1
// character of that number, so that the file stays valid JSON whatever a
// client sent (lesson 6's image_server narrates request lines).
void append_string(std::string& json, std::string_view text) {
  json += '"';
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      json += '\\';
      json += c;
    } else if (byte < 0x20 || byte >= 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(byte));
      json += escaped;
    } else {
      json += c;
    }
  }
  json += '"';
}

std::string event_head(std::string_view name, std::string_view phase, int track) {
  std::string json = "{\"name\":";
  append_string(json, name);
  json += ",\"ph\":\"";
  json += phase;
  json += "\",\"pid\":1,\"tid\":" + std::to_string(track);
  return json;
}

}  // namespace

Timeline::Timeline(const std::string& path)
    : path_(path),
      file_(path, std::ios::out | std::ios::trunc),
      start_(Clock::now()),
      next_track_(loop_track + 1) {
  if (!file_) {
    throw std::system_error(errno, std::generic_category(),
                            "cannot write the timeline to '" + path + "'");
  }
  file_ << "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n";
  write_metadata("process_name", loop_track, program_invocation_short_name);
  write_metadata("thread_name", loop_track, "loop");
}

Timeline::~Timeline() {
  const Clock::time_point now = Clock::now();
  finish_activity(now);
  while (!connections_.empty())
    close_track(connections_.begin()->first, now);
  file_ << "\n]}\n";
  file_.close();
  if (!file_) {
    std::cerr << program_invocation_short_name << ": the timeline in '" << path_
              << "' could not be written in full\n";
  }
}

void Timeline::record(EventKind kind, int key, std::string_view narration) {
  const Clock::time_point now = Clock::now();
  // Whatever happens after a wait is what ended it (a wait after a wait: the
  // first ended with nothing to say, an EINTR perhaps).
  if (activity_ && activity_->kind == EventKind::wait) {
    finish_activity(now, kind == EventKind::wait ? std::string_view() : narration);
  }
  if (kind == EventKind::open) {
    if (connections_.contains(key)) close_track(key, now);  // reused without a close()
    open_track(key, now);
    write_mark(kind, connections_.at(key).track, now, narration);
    return;
  }

  const auto found = connections_.find(key);
  const bool of_connection = key != loop && found != connections_.end();
  const int track = of_connection ? found->second.track : loop_track;
  switch (kind) {
    case EventKind::wait:
      finish_activity(now);
      activity_ = Activity{kind, loop, loop_track, now, std::string(narration)};
      return;
    case EventKind::run:
      finish_activity(now);
      start_run(key, track, now, narration);
      return;
    case EventKind::close:
      if (!of_connection) break;  // the listener's, say: a note of the loop
      write_mark(kind, track, now, narration);
      close_track(key, now);
      return;
    default:
      break;
  }
  // A read, a write or a note: the thread works for this track now, if it did
  // not already. The loop's own work has no slice, only a callback it runs.
  if (!activity_ || activity_->track != track) {
    finish_activity(now);
    if (of_connection) start_run(key, track, now, narration);
  }
  write_mark(kind, track, now, narration);
}

void Timeline::open_track(int key, Clock::time_point now) {
  const int track = next_track_++;
  connections_.emplace(key, Connection{track, now});
  write_metadata(
      "thread_name", track,
      "connection " + std::to_string(track - loop_track) + " (fd " + std::to_string(key) + ")");
}

void Timeline::close_track(int key, Clock::time_point now) {
  const auto found = connections_.find(key);
  const Connection& connection = found->second;
  if (activity_ && activity_->track == connection.track) {
    finish_activity(now);  // its run ends with it
  } else {
    emit_wait(connection.track, *connection.waiting_since, now);
  }
  connections_.erase(found);
}

void Timeline::start_run(int key, int track, Clock::time_point now, std::string_view narration) {
  if (track != loop_track) {
    Connection& connection = connections_.at(key);
    if (connection.waiting_since) emit_wait(track, *connection.waiting_since, now);
    connection.waiting_since.reset();
  }
  activity_ = Activity{EventKind::run, key, track, now, std::string(narration)};
}

void Timeline::finish_activity(Clock::time_point now, std::string_view woken_by) {
  if (!activity_) return;
  write_slice(name_of(activity_->kind), activity_->track, activity_->start, now,
              activity_->narration, woken_by);
  if (activity_->kind == EventKind::run && activity_->track != loop_track) {
    connections_.at(activity_->key).waiting_since = now;
  }
  activity_.reset();
}

void Timeline::emit_wait(int track, Clock::time_point start, Clock::time_point end) {
  write_slice("wait", track, start, end, {}, {});
}

void Timeline::write_metadata(std::string_view name, int track, std::string_view argument) {
  std::string json = event_head(name, "M", track);
  json += ",\"args\":{\"name\":";
  append_string(json, argument);
  json += "}}";
  write_event(json);
  // Without an order, viewers sort tracks by name, and "connection 10"
  // would come before "connection 2".
  if (name != "thread_name") return;
  json = event_head("thread_sort_index", "M", track);
  json += ",\"args\":{\"sort_index\":" + std::to_string(track) + "}}";
  write_event(json);
}

void Timeline::write_slice(std::string_view name, int track, Clock::time_point start,
                           Clock::time_point end, std::string_view narration,
                           std::string_view woken_by) {
  std::string json = event_head(name, "X", track);
  append_time(json, "ts", start - start_);
  append_time(json, "dur", end - start);
  if (!narration.empty() || !woken_by.empty()) {
    json += ",\"args\":{";
    if (!narration.empty()) {
      json += "\"narration\":";
      append_string(json, narration);
    }
    if (!woken_by.empty()) {
      json += narration.empty() ? "" : ",";
      json += "\"woken by\":";
      append_string(json, woken_by);
    }
    json += '}';
  }
  json += '}';
  write_event(json);
}

void Timeline::write_mark(EventKind kind, int track, Clock::time_point at,
                          std::string_view narration) {
  std::string json = event_head(name_of(kind), "i", track);
  json += ",\"s\":\"t\"";  // the mark belongs to its track alone
  append_time(json, "ts", at - start_);
  json += ",\"args\":{\"narration\":";
  append_string(json, narration);
  json += "}}";
  write_event(json);
}

// One event per line, so that a file stays readable and diffs well.
void Timeline::write_event(const std::string& json) {
  if (!first_event_) file_ << ",\n";
  first_event_ = false;
  file_ << json;
}

// The format counts in microseconds; three decimals keep nanoseconds, as a
// callback often takes less than a microsecond.
void Timeline::append_time(std::string& json, std::string_view field,
                           Clock::duration since_start) const {
  const auto nanoseconds =
      std::chrono::duration_cast<std::chrono::nanoseconds>(since_start).count();
  char text[48];
  std::snprintf(text, sizeof text, ",\"%.*s\":%" PRId64 ".%03" PRId64,
                static_cast<int>(field.size()), field.data(),
                static_cast<std::int64_t>(nanoseconds / 1000),
                static_cast<std::int64_t>(nanoseconds % 1000));
  json += text;
}

}  // namespace common
