#include "tests/trace_file.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>

#include "tests/json.hpp"

namespace test_support {

int TraceFile::track(std::string_view name) const {
  for (const auto& [id, track_name] : track_names) {
    if (track_name == name) return id;
  }
  throw std::runtime_error("no track named '" + std::string(name) + "'");
}

std::vector<int> TraceFile::connection_tracks() const {
  std::vector<int> tracks;
  for (const auto& [id, name] : track_names) {
    // "fd 5", or "127.0.0.1:48746 (fd 8)": named after a descriptor.
    if (name.starts_with("fd ") || (name.ends_with(")") && name.find(" (fd ") != std::string::npos))
      tracks.push_back(id);
  }
  return tracks;
}

std::vector<TraceEvent> TraceFile::events_on(int track) const {
  std::vector<TraceEvent> found;
  for (const TraceEvent& event : events) {
    if (event.track == track) found.push_back(event);
  }
  return found;
}

TraceFile read_trace_file(const std::string& path) {
  std::ifstream file(path);
  if (!file) throw std::runtime_error("cannot open " + path);
  std::ostringstream text;
  text << file.rdbuf();
  const JsonValue document = parse_json(text.str());

  TraceFile trace;
  for (const JsonValue& event : document.at("traceEvents").as_array()) {
    const std::string& phase = event.at("ph").as_string();
    const std::string& name = event.at("name").as_string();
    const int track = static_cast<int>(event.at("tid").as_number());
    if (event.at("pid").as_number() != 1) throw std::runtime_error("an event of another process");
    const JsonValue* arguments = event.find("args");
    if (phase == "M") {
      if (name == "process_name") trace.process_name = arguments->at("name").as_string();
      if (name == "thread_name") trace.track_names[track] = arguments->at("name").as_string();
      continue;
    }
    if (phase != "X" && phase != "i") throw std::runtime_error("an event of phase " + phase);
    TraceEvent parsed{name, phase[0], track, event.at("ts").as_number(), 0, "", ""};
    if (phase == "X") parsed.duration_us = event.at("dur").as_number();
    if (arguments) {
      if (const JsonValue* narration = arguments->find("narration")) {
        parsed.narration = narration->as_string();
      }
      if (const JsonValue* woken_by = arguments->find("woken by")) {
        parsed.woken_by = woken_by->as_string();
      }
    }
    trace.events.push_back(std::move(parsed));
  }
  std::ranges::stable_sort(trace.events, {}, &TraceEvent::start_us);
  return trace;
}

TemporaryFile::TemporaryFile() {
  static int made = 0;  // by this process
  const std::string name =
      "timeline_" + std::to_string(getpid()) + "_" + std::to_string(made++) + ".json";
  path_ = (std::filesystem::temp_directory_path() / name).string();
}

TemporaryFile::~TemporaryFile() {
  std::remove(path_.c_str());
}

namespace {

std::vector<TraceEvent> of_phase(const std::vector<TraceEvent>& events, char phase) {
  std::vector<TraceEvent> found;
  std::ranges::copy_if(events, std::back_inserter(found),
                       [phase](const TraceEvent& event) { return event.phase == phase; });
  return found;
}

std::vector<std::string> names_of(const std::vector<TraceEvent>& events) {
  std::vector<std::string> names;
  std::ranges::transform(events, std::back_inserter(names), &TraceEvent::name);
  return names;
}

}  // namespace

std::vector<TraceEvent> marks_of(const std::vector<TraceEvent>& events) {
  return of_phase(events, 'i');
}

std::vector<TraceEvent> slices_of(const std::vector<TraceEvent>& events) {
  return of_phase(events, 'X');
}

std::vector<std::string> mark_names(const std::vector<TraceEvent>& events) {
  return names_of(marks_of(events));
}

std::vector<std::string> slice_names(const std::vector<TraceEvent>& events) {
  return names_of(slices_of(events));
}

}  // namespace test_support
