// Reads a file that --timeline wrote (the Trace Event Format): its tracks and
// its events in time order, for tests to check what a program's loop did.
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
  // The tracks whose names start with "connection ", in the file's numbering.
  std::vector<int> connection_tracks() const;
  std::vector<TraceEvent> events_on(int track) const;
};

// Throws std::runtime_error if the file is missing, is not valid JSON, or
// is not the Trace Event Format that common::Timeline writes.
TraceFile read_trace_file(const std::string& path);

}  // namespace test_support
