// Reads a file that --timeline wrote (the Trace Event Format): its tracks and
// its events in time order, for tests to check what a program's loop did; and
// what those tests share: a file to write it to, a tolerance for its times,
// and the marks and slices of a list of events.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace test_support {

struct TraceEvent {
  std::string name;  // wait, run (slices); open, read, write, note, close (marks)
  char phase;        // 'X' for a slice, 'i' for a mark
  int track;
  double start_us;
  double duration_us;  // 0 for a mark
  std::string narration;
  std::string woken_by;  // a loop's wait: the first thing that happened after it

  double end_us() const { return start_us + duration_us; }
};

struct TraceFile {
  std::string process_name;
  std::map<int, std::string> track_names;
  std::vector<TraceEvent> events;  // by start time; among equal times, in the file's order

  // The track named exactly `name`; throws std::runtime_error if there is none.
  int track(std::string_view name) const;
  // The connections' tracks, named after a descriptor ("fd 5") or after a
  // peer and its descriptor ("127.0.0.1:48746 (fd 8)"), in the file's numbering.
  std::vector<int> connection_tracks() const;
  std::vector<TraceEvent> events_on(int track) const;
};

// Throws std::runtime_error if the file is missing, is not valid JSON, or
// is not the Trace Event Format that observer::Timeline writes.
TraceFile read_trace_file(const std::string& path);

// Timestamps are microseconds with three decimals: two sums of them may
// differ in the last digit.
inline constexpr double nanosecond = 0.001;

// A path in the temporary folder, for a timeline; the file is removed at the
// end. The name is unique also among test processes that run at once.
class TemporaryFile {
 public:
  TemporaryFile();
  ~TemporaryFile();
  TemporaryFile(const TemporaryFile&) = delete;
  TemporaryFile& operator=(const TemporaryFile&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The marks among `events` (phase 'i'), and the slices (phase 'X'), in order.
std::vector<TraceEvent> marks_of(const std::vector<TraceEvent>& events);
std::vector<TraceEvent> slices_of(const std::vector<TraceEvent>& events);
// Their names, in order: "open", "read", "close"; "wait", "run".
std::vector<std::string> mark_names(const std::vector<TraceEvent>& events);
std::vector<std::string> slice_names(const std::vector<TraceEvent>& events);

}  // namespace test_support
