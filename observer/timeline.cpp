#include "observer/timeline.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <system_error>
#include <utility>

namespace observer {

namespace {

// The process is pid 1 and the loop's track is its main thread (tid 1), so
// that a viewer lists the loop first; the other tracks get tids 2, 3...
constexpr int loop_tid = 1;

// "fd 8", "task 2": what names an open track, and what the observer writes
// before the narration of its events. Empty for the loop.
std::string key_of(Track track) {
  if (track.number < 0) return {};
  return std::string(track.noun) + ' ' + std::to_string(track.number);
}

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

std::string event_head(std::string_view name, std::string_view phase, int tid) {
  std::string json = "{\"name\":";
  append_string(json, name);
  json += ",\"ph\":\"";
  json += phase;
  json += "\",\"pid\":1,\"tid\":" + std::to_string(tid);
  return json;
}

}  // namespace

Timeline::Timeline(const std::string& path)
    : path_(path), start_(Clock::now()), next_tid_(loop_tid + 1) {
  const auto refuse = [&path](int error, const std::string& why) {
    return std::system_error(error, std::generic_category(),
                             "cannot write the timeline to '" + path + "'" + why);
  };
  // lstat(), not stat(): a link is refused, not followed to what it names.
  struct stat existing {};
  if (::lstat(path.c_str(), &existing) == 0 && !S_ISREG(existing.st_mode)) {
    throw refuse(EINVAL, S_ISLNK(existing.st_mode) ? ": it is a symbolic link"
                                                   : ": it is not a regular file");
  }
  const std::size_t slash = path.rfind('/');
  const std::string folder = slash == std::string::npos ? "" : path.substr(0, slash + 1);
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  std::string hidden = folder + "." + name + ".XXXXXX";
  const int fd = ::mkostemp(hidden.data(), O_CLOEXEC);  // a new file: no link to follow
  if (fd < 0) throw refuse(errno, "");
  // mkostemp() makes it 0600, as for a secret; it gets what any new file
  // gets, 0666 less the umask. (umask() can only be read by setting it: done
  // at startup, while the program has one thread.)
  const mode_t mask = ::umask(0);
  ::umask(mask);
  ::fchmod(fd, 0666 & ~mask);
  hidden_path_ = hidden;
  file_ = ::fdopen(fd, "w");
  if (file_ == nullptr) {
    const int error = errno;
    ::close(fd);
    ::unlink(hidden_path_.c_str());
    throw refuse(error, "");
  }
  std::fputs("{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n", file_);
  write_metadata("process_name", loop_tid, program_invocation_short_name);
  // A full disk (or /dev/full's folder) says so now, not at the end.
  if (std::fflush(file_) != 0) {
    const int error = errno;
    std::fclose(std::exchange(file_, nullptr));
    ::unlink(hidden_path_.c_str());
    throw refuse(error, "");
  }
}

Timeline::~Timeline() {
  if (file_ == nullptr) return;
  std::fclose(file_);
  ::unlink(hidden_path_.c_str());
}

int Timeline::finish() {
  if (file_ == nullptr) return error_;
  const Clock::time_point now = Clock::now();
  finish_activity(now);
  while (!open_tracks_.empty()) {
    const std::string key = open_tracks_.begin()->first;
    close_track(key, now);
  }
  write_metadata("thread_name", loop_tid, thread_name_);  // known by now
  std::fputs("\n]}\n", file_);
  if (std::fflush(file_) != 0 && error_ == 0) error_ = errno;
  if (std::fclose(std::exchange(file_, nullptr)) != 0 && error_ == 0) error_ = errno;
  if (error_ == 0 && anything_happened_ && std::rename(hidden_path_.c_str(), path_.c_str()) != 0) {
    error_ = errno;
  }
  if (error_ != 0 || !anything_happened_) ::unlink(hidden_path_.c_str());
  return error_;
}

void Timeline::record(EventKind kind, Track track, std::string_view narration) {
  const Clock::time_point now = Clock::now();
  anything_happened_ = true;
  const std::string key = key_of(track);
  const bool loop_waits = kind == EventKind::wait && key.empty();
  // Whatever happens after a wait of the loop is what ended it (another wait
  // of the loop: the first ended with nothing to say, an EINTR perhaps).
  if (activity_ && activity_->kind == EventKind::wait) {
    finish_activity(now, loop_waits ? std::string_view() : narration);
  }
  const auto found = open_tracks_.find(key);
  if (kind == EventKind::open && !key.empty()) {
    if (found != open_tracks_.end()) close_track(key, now);  // reused without a close()
    open_track(key, track, now);
    write_mark(kind, open_tracks_.at(key).tid, now, narration);
    return;
  }

  const bool of_track = found != open_tracks_.end();
  const int tid = of_track ? found->second.tid : loop_tid;
  switch (kind) {
    case EventKind::wait:
      if (loop_waits) {
        finish_activity(now);
        activity_ = Activity{kind, {}, loop_tid, now, std::string(narration)};
        return;
      }
      if (!of_track) break;  // the listener's, say: a mark of the loop
      start_waiting(key, now, narration);
      return;
    case EventKind::run:
      finish_activity(now);
      start_run(of_track ? key : std::string(), tid, now, narration);
      return;
    case EventKind::close:
      if (!of_track) break;  // the listener's, say: a mark of the loop
      write_mark(kind, tid, now, narration);
      close_track(key, now);
      return;
    default:
      break;
  }
  // A read, a write or a note: the thread works for this track now, if it did
  // not already. The loop's own work has no slice, only a callback it runs.
  if (!activity_ || activity_->tid != tid) {
    finish_activity(now);
    if (of_track) start_run(key, tid, now, narration);
  }
  write_mark(kind, tid, now, narration);
}

void Timeline::open_track(const std::string& key, Track track, Clock::time_point now) {
  const int tid = next_tid_++;
  open_tracks_.emplace(key, OpenTrack{tid, now, {}});
  // A connection is named after its peer, "127.0.0.1:48746 (fd 8)", as a
  // descriptor's number does not tell one connection from the next; anything
  // else by its noun and number, as is a descriptor that has no peer.
  std::string name = key;
  if (std::string_view(track.noun) == "fd") {
    sockaddr_in peer{};
    socklen_t length = sizeof peer;
    char address[INET_ADDRSTRLEN] = {};
    if (::getpeername(static_cast<int>(track.number), reinterpret_cast<sockaddr*>(&peer),
                      &length) == 0 &&
        peer.sin_family == AF_INET &&
        ::inet_ntop(AF_INET, &peer.sin_addr, address, sizeof address)) {
      name = std::string(address) + ":" + std::to_string(ntohs(peer.sin_port)) + " (" + key + ")";
    }
  }
  write_metadata("thread_name", tid, name);
}

void Timeline::close_track(const std::string& key, Clock::time_point now) {
  finish_track_slice(key, now);
  open_tracks_.erase(key);
}

void Timeline::start_run(const std::string& key, int tid, Clock::time_point now,
                         std::string_view narration) {
  if (!key.empty()) finish_track_slice(key, now);  // its wait
  activity_ = Activity{EventKind::run, key, tid, now, std::string(narration)};
}

// A track's wait begins when its run ends; one that was already waiting
// waited for something else until now.
void Timeline::start_waiting(const std::string& key, Clock::time_point now,
                             std::string_view narration) {
  finish_track_slice(key, now);
  OpenTrack& open = open_tracks_.at(key);
  open.waiting_since = now;
  open.waiting_for = narration;
}

// An open track is always in a slice: the thread's run for it, or else a wait.
void Timeline::finish_track_slice(const std::string& key, Clock::time_point now) {
  if (activity_ && activity_->key == key) {
    finish_activity(now);
  } else {
    const OpenTrack& open = open_tracks_.at(key);
    write_slice("wait", open.tid, open.waiting_since, now, open.waiting_for, {});
  }
}

void Timeline::finish_activity(Clock::time_point now, std::string_view woken_by) {
  if (!activity_) return;
  write_slice(name_of(activity_->kind), activity_->tid, activity_->start, now, activity_->narration,
              woken_by);
  if (activity_->kind == EventKind::run && !activity_->key.empty()) {
    OpenTrack& open = open_tracks_.at(activity_->key);
    open.waiting_since = now;  // for what, its next wait() may say
    open.waiting_for.clear();
  }
  activity_.reset();
}

void Timeline::write_metadata(std::string_view name, int tid, std::string_view argument) {
  std::string json = event_head(name, "M", tid);
  json += ",\"args\":{\"name\":";
  append_string(json, argument);
  json += "}}";
  write_event(json);
  // Without an order, viewers sort tracks by name, and "connection 10"
  // would come before "connection 2".
  if (name != "thread_name") return;
  json = event_head("thread_sort_index", "M", tid);
  json += ",\"args\":{\"sort_index\":" + std::to_string(tid) + "}}";
  write_event(json);
}

void Timeline::write_slice(std::string_view name, int tid, Clock::time_point start,
                           Clock::time_point end, std::string_view narration,
                           std::string_view woken_by) {
  std::string json = event_head(name, "X", tid);
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

void Timeline::write_mark(EventKind kind, int tid, Clock::time_point at,
                          std::string_view narration) {
  std::string json = event_head(name_of(kind), "i", tid);
  json += ",\"s\":\"t\"";  // the mark belongs to its track alone
  append_time(json, "ts", at - start_);
  json += ",\"args\":{\"narration\":";
  append_string(json, narration);
  json += "}}";
  write_event(json);
}

// One event per line, so that a file stays readable and diffs well.
void Timeline::write_event(const std::string& json) {
  if (file_ == nullptr) return;  // finished
  if (!first_event_) std::fputs(",\n", file_);
  first_event_ = false;
  if (std::fputs(json.c_str(), file_) < 0 && error_ == 0) error_ = errno;
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

}  // namespace observer
