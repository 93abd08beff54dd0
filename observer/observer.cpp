#include "observer/observer.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>

namespace observer {

namespace {

bool narrate = false;
std::unique_ptr<Timeline> timeline;
std::string timeline_path;  // for the message if it cannot be written

// Narration quotes what came from the network (a request line, say), and a
// terminal obeys control bytes: "\x1b]0;..." would set the window's title.
// So they are shown, not sent: as \xNN.
std::string printable(const std::string& text) {
  std::string shown;
  shown.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f) {
      shown += c;
    } else {
      char escaped[5];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", static_cast<unsigned>(byte));
      shown += escaped;
    }
  }
  return shown;
}

// At exit, whether main() returned or exit() was called: the file is
// finished, or the program's exit code says that it could not be written.
void finish_at_exit() {
  if (stop()) return;
  std::cout.flush();
  std::fflush(nullptr);
  std::_Exit(1);
}

}  // namespace

void start(bool narrate_on_standard_error, const std::string& path) {
  if (!path.empty()) {
    timeline = std::make_unique<Timeline>(path);
    timeline_path = path;
  }
  narrate = narrate_on_standard_error;
  detail::observing = narrate || timeline != nullptr;
  static const bool registered = std::atexit(finish_at_exit) == 0;
  (void)registered;
}

void name_thread(std::string_view name) {
  if (timeline) timeline->name_thread(name);
}

bool stop() {
  detail::observing = false;
  narrate = false;
  if (timeline == nullptr) return true;
  const int error = timeline->finish();
  timeline.reset();
  if (error == 0) return true;
  std::cerr << program_invocation_short_name << ": the timeline could not be written to '"
            << timeline_path << "': " << std::strerror(error) << '\n';
  return false;
}

void detail::publish(EventKind kind, Track track, const std::string& narration) {
  if (narrate) std::cerr << "trace: " << printable(narration) << '\n';
  if (timeline) timeline->record(kind, track, narration);
}

}  // namespace observer
