// What the observer writes to --timeline's file (observer/timeline.hpp): the
// loop's waits and what woke them, a track per connection (or task, or
// transfer) whose runs and waits alternate, each wait saying what for once
// the track said so, marks for reads and writes, and valid JSON whatever
// happens; and the file is complete or absent, never written through a link.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "common/net.hpp"
#include "observer/observer.hpp"
#include "tests/trace_file.hpp"

namespace {

using test_support::mark_names;
using test_support::nanosecond;
using test_support::slice_names;
using test_support::slices_of;
using test_support::TraceEvent;
using test_support::TraceFile;
using testing::ElementsAre;
using testing::HasSubstr;
using testing::IsEmpty;

// Observes from its construction to its destruction, as a program does from
// its flags to its exit.
class Observing {
 public:
  Observing(bool narrate, const std::string& timeline_path) {
    observer::start(narrate, timeline_path);
  }
  ~Observing() { observer::stop(); }
  Observing(const Observing&) = delete;
  Observing& operator=(const Observing&) = delete;
};

std::string contents_of(const std::string& path) {
  std::ifstream file(path);
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

// The hidden files (".NAME.XXXXXX") that a Timeline writing `path` left in
// its folder.
std::vector<std::string> hidden_files_beside(const std::string& path) {
  const std::filesystem::path written(path);
  const std::string prefix = "." + written.filename().string() + ".";
  std::vector<std::string> found;
  for (const auto& entry : std::filesystem::directory_iterator(written.parent_path())) {
    if (entry.path().filename().string().starts_with(prefix)) found.push_back(entry.path());
  }
  return found;
}

class TimelineTest : public testing::Test {
 protected:
  const std::string& path() const { return file_.path(); }
  TraceFile read() const { return test_support::read_trace_file(path()); }

 private:
  const test_support::TemporaryFile file_;
};

const TraceEvent& only_mark(const std::vector<TraceEvent>& events, std::string_view name) {
  const TraceEvent* found = nullptr;
  for (const TraceEvent& event : events) {
    if (event.phase == 'i' && event.name == name) {
      EXPECT_EQ(found, nullptr) << "more than one mark named " << name;
      found = &event;
    }
  }
  if (found == nullptr) throw std::runtime_error("no mark named " + std::string(name));
  return *found;
}

TEST_F(TimelineTest, AWaitLastsUntilTheNextEventWhichIsWhatWokeIt) {
  {
    const Observing observing(false, path());
    observer::wait("select(): waiting");
    observer::run(7, "ready to read, running its callback");
  }
  const TraceFile file = read();
  const std::vector<TraceEvent> loop = file.events_on(file.track("loop"));
  ASSERT_EQ(loop.size(), 2u);
  EXPECT_EQ(loop[0].name, "wait");
  EXPECT_EQ(loop[0].narration, "select(): waiting");
  EXPECT_EQ(loop[0].woken_by, "fd 7: ready to read, running its callback");
  // Descriptor 7 is no connection (a listener, say): its callback is the loop's.
  EXPECT_EQ(loop[1].name, "run");
  EXPECT_NEAR(loop[1].start_us, loop[0].end_us(), nanosecond);
}

TEST_F(TimelineTest, AConnectionAlternatesBetweenWaitingAndRunningUntilItCloses) {
  {
    const Observing observing(false, path());
    observer::open(5, "accepted");
    observer::wait("select()");
    observer::run(5, "ready to read");
    observer::read(5, "received 3 bytes");
    observer::write(5, "sent them all back");
    observer::wait("select()");
    observer::run(5, "ready to read");
    observer::read(5, "the client has finished sending");
    observer::close(5, "closing");
  }
  const TraceFile file = read();
  ASSERT_EQ(file.connection_tracks().size(), 1u);
  const int track = file.connection_tracks()[0];
  EXPECT_EQ(file.track_names.at(track), "fd 5");  // no socket: no peer to name it after
  const std::vector<TraceEvent> events = file.events_on(track);
  EXPECT_THAT(mark_names(events), ElementsAre("open", "read", "write", "read", "close"));
  const std::vector<TraceEvent> slices = slices_of(events);
  ASSERT_THAT(slice_names(slices), ElementsAre("wait", "run", "wait", "run"));
  // Back to back, from its opening to its closing.
  EXPECT_NEAR(slices[0].start_us, only_mark(events, "open").start_us, nanosecond);
  for (std::size_t i = 1; i < slices.size(); ++i)
    EXPECT_NEAR(slices[i].start_us, slices[i - 1].end_us(), nanosecond) << "slice " << i;
  EXPECT_NEAR(slices.back().end_us(), only_mark(events, "close").start_us, nanosecond);
  EXPECT_EQ(slices[1].narration, "fd 5: ready to read");
  // The loop waited twice, woken each time by the connection's callback.
  const std::vector<TraceEvent> loop = file.events_on(file.track("loop"));
  ASSERT_THAT(slice_names(loop), ElementsAre("wait", "wait"));
  EXPECT_EQ(loop[0].woken_by, "fd 5: ready to read");
}

// Lesson 1 has no callbacks: the thread works for a connection from its
// first event after a wait until it waits again.
TEST_F(TimelineTest, AConnectionsEventAfterAWaitStartsItsRun) {
  {
    const Observing observing(false, path());
    observer::wait("blocking in accept()");
    observer::open(4, "accepted");
    observer::wait("blocking in recv()");
    observer::read(4, "received 6 bytes");
    observer::write(4, "sent them back");
    observer::wait("blocking in recv()");
    observer::close(4, "closing");
  }
  const TraceFile file = read();
  const int track = file.connection_tracks().at(0);
  const std::vector<TraceEvent> slices = slices_of(file.events_on(track));
  ASSERT_THAT(slice_names(slices), ElementsAre("wait", "run", "wait"));
  EXPECT_EQ(slices[1].narration, "fd 4: received 6 bytes");
  const std::vector<TraceEvent> loop = file.events_on(file.track("loop"));
  ASSERT_THAT(slice_names(loop), ElementsAre("wait", "wait", "wait"));
  EXPECT_EQ(loop[0].woken_by, "fd 4: accepted");
  EXPECT_EQ(loop[1].woken_by, "fd 4: received 6 bytes");
  EXPECT_EQ(loop[2].woken_by, "fd 4: closing");
  EXPECT_NEAR(slices[1].start_us, loop[1].end_us(), nanosecond);
  EXPECT_NEAR(slices[1].end_us(), loop[2].start_us, nanosecond);
}

TEST_F(TimelineTest, EachConnectionHasATrackOfItsOwnWhenItsDescriptorIsReused) {
  {
    const Observing observing(false, path());
    observer::open(5, "accepted");
    observer::close(5, "closing");
    observer::open(5, "accepted");
    observer::read(5, "received 1 bytes");
    observer::open(5, "accepted");  // a program that forgot close(): the old one ends here
  }
  const TraceFile file = read();
  const std::vector<int> tracks = file.connection_tracks();
  ASSERT_EQ(tracks.size(), 3u);
  EXPECT_THAT(mark_names(file.events_on(tracks[0])), ElementsAre("open", "close"));
  EXPECT_THAT(mark_names(file.events_on(tracks[1])), ElementsAre("open", "read"));
  EXPECT_THAT(mark_names(file.events_on(tracks[2])), ElementsAre("open"));
}

TEST_F(TimelineTest, EventsOfOtherDescriptorsAndNotesOfTheLoopAreTheLoops) {
  {
    const Observing observing(false, path());
    observer::open(5, "accepted");
    observer::run(5, "ready to read");
    observer::note(3, "the listener rests");  // 3 is no connection
    observer::note("stopping: closing every connection");
  }
  const TraceFile file = read();
  const std::vector<TraceEvent> loop = file.events_on(file.track("loop"));
  ASSERT_EQ(loop.size(), 2u);
  EXPECT_EQ(loop[0].narration, "fd 3: the listener rests");
  EXPECT_EQ(loop[1].narration, "stopping: closing every connection");
  // The loop's work ended the connection's run.
  const std::vector<TraceEvent> connection = file.events_on(file.connection_tracks().at(0));
  const TraceEvent run = slices_of(connection).at(1);
  EXPECT_EQ(run.name, "run");
  EXPECT_NEAR(run.end_us(), loop[0].start_us, nanosecond);
}

TEST_F(TimelineTest, WhatIsStillGoingOnEndsWhenObservingStops) {
  {
    const Observing observing(false, path());
    observer::open(5, "accepted");
    observer::run(5, "ready to read");
    observer::open(6, "accepted");
    observer::wait("select()");
  }
  const TraceFile file = read();
  ASSERT_EQ(file.connection_tracks().size(), 2u);
  const std::vector<TraceEvent> loop = file.events_on(file.track("loop"));
  ASSERT_EQ(loop.size(), 1u);
  EXPECT_EQ(loop[0].name, "wait");
  EXPECT_EQ(loop[0].woken_by, "");
  // Both connections waited until the end.
  for (const int track : file.connection_tracks()) {
    EXPECT_NEAR(slices_of(file.events_on(track)).back().end_us(), loop[0].end_us(), nanosecond);
  }
}

// Lessons 4 and 5: a task runs, then yields what it waits for.
TEST_F(TimelineTest, AConnectionsWaitLastsFromItsOwnWaitUntilItRunsAgainAndSaysWhatFor) {
  {
    const Observing observing(false, path());
    observer::open(5, "accepted");
    observer::run(5, "running task 2");
    observer::read(5, "received 3 bytes");
    observer::wait(5, "task 2 waits to write");
    observer::run(5, "running task 2");
    observer::write(5, "sent 3 bytes back");
    observer::wait(5, "task 2 waits to read");
    observer::wait("select()");
    observer::note("fd 5 is ready to read: task 2 can run");
    observer::close(5, "task 2 finished");
  }
  const TraceFile file = read();
  const std::vector<TraceEvent> events = file.events_on(file.connection_tracks().at(0));
  EXPECT_THAT(mark_names(events), ElementsAre("open", "read", "write", "close"));
  const std::vector<TraceEvent> slices = slices_of(events);
  ASSERT_THAT(slice_names(slices), ElementsAre("wait", "run", "wait", "run", "wait"));
  EXPECT_EQ(slices[0].narration, "");  // from its opening: it has not said yet
  EXPECT_EQ(slices[2].narration, "fd 5: task 2 waits to write");
  EXPECT_EQ(slices[4].narration, "fd 5: task 2 waits to read");
  for (std::size_t i = 1; i < slices.size(); ++i)
    EXPECT_NEAR(slices[i].start_us, slices[i - 1].end_us(), nanosecond) << "slice " << i;
  EXPECT_NEAR(slices.back().end_us(), only_mark(events, "close").start_us, nanosecond);
  // The connection's waits are its own: the loop waited once, in select().
  const std::vector<TraceEvent> loop = file.events_on(file.track("loop"));
  ASSERT_THAT(slice_names(loop), ElementsAre("wait"));
  EXPECT_EQ(loop[0].narration, "select()");
  EXPECT_EQ(loop[0].woken_by, "fd 5 is ready to read: task 2 can run");
}

TEST_F(TimelineTest, AConnectionThatWaitsAgainBeforeItRunsWaitedForTheFirstThingUntilThen) {
  {
    const Observing observing(false, path());
    observer::open(5, "accepted");
    observer::wait(5, "waits to read");
    observer::wait(5, "waits to write");
    observer::close(5, "closing");
  }
  const TraceFile file = read();
  const std::vector<TraceEvent> slices = slices_of(file.events_on(file.connection_tracks().at(0)));
  ASSERT_THAT(slice_names(slices), ElementsAre("wait", "wait", "wait"));
  EXPECT_EQ(slices[1].narration, "fd 5: waits to read");
  EXPECT_EQ(slices[2].narration, "fd 5: waits to write");
  EXPECT_NEAR(slices[2].start_us, slices[1].end_us(), nanosecond);
}

// Lesson 4's listener task: its socket is no connection, and a task that has
// not waited yet has none (-1).
TEST_F(TimelineTest, AWaitOfADescriptorThatIsNoConnectionIsAMarkOfTheLoopThatDoesNotBlockIt) {
  {
    const Observing observing(false, path());
    observer::run(-1, "running task 1");
    observer::wait(3, "task 1 waits to read");
    observer::wait("select()");
  }
  const TraceFile file = read();
  EXPECT_TRUE(file.connection_tracks().empty());
  const std::vector<TraceEvent> loop = file.events_on(file.track("loop"));
  ASSERT_EQ(loop.size(), 3u);
  EXPECT_EQ(loop[0].name, "run");
  EXPECT_EQ(loop[0].narration, "running task 1");  // no "fd -1: "
  EXPECT_EQ(loop[1].phase, 'i');
  EXPECT_EQ(loop[1].name, "wait");
  EXPECT_EQ(loop[1].narration, "fd 3: task 1 waits to read");
  EXPECT_EQ(loop[2].phase, 'X');
  EXPECT_EQ(loop[2].narration, "select()");
  // The task's run lasted until the loop blocked, not until the mark.
  EXPECT_NEAR(loop[0].end_us(), loop[2].start_us, nanosecond);
}

// Lesson 6's tasks and transfers: tracks with a noun and a number of their own.
TEST_F(TimelineTest, TracksOfWhatIsNoConnectionAreNamedByTheirNounAndNumber) {
  {
    const Observing observing(false, path());
    observer::open(observer::Track("task", 1), "print_numbers starts");
    observer::open(observer::Track("task", 2), "print_seconds starts");
    observer::open(5, "accepted");
    observer::open(observer::Track("image", 7), "GET /320/240");
    observer::run(observer::Track("task", 1), "its timer is due");
  }
  const TraceFile file = read();
  ASSERT_EQ(file.connection_tracks().size(), 1u);
  const std::vector<TraceEvent> task = file.events_on(file.track("task 1"));
  EXPECT_EQ(only_mark(task, "open").narration, "task 1: print_numbers starts");
  EXPECT_EQ(slices_of(task).at(1).narration, "task 1: its timer is due");
  EXPECT_EQ(only_mark(file.events_on(file.track("image 7")), "open").narration,
            "image 7: GET /320/240");
  EXPECT_NO_THROW(file.track("task 2"));
}

TEST_F(TimelineTest, ATrackOfANounAndADescriptorOfTheSameNumberAreTwoTracks) {
  {
    const Observing observing(false, path());
    observer::open(observer::Track("task", 5), "starts");
    observer::open(5, "accepted");
    observer::read(5, "received 2 bytes");
    observer::note(observer::Track("task", 5), "sleeps");
  }
  const TraceFile file = read();
  EXPECT_THAT(mark_names(file.events_on(file.track("fd 5"))), ElementsAre("open", "read"));
  EXPECT_THAT(mark_names(file.events_on(file.track("task 5"))), ElementsAre("open", "note"));
}

// The downloader's sync mode: every image is known at once, and each waits
// for its turn, which comes when the one before it is done.
TEST_F(TimelineTest, TransfersServedOneAfterAnotherWaitOnTheirOwnTracksForTheirTurn) {
  {
    const Observing observing(false, path());
    for (int image = 1; image <= 3; ++image)
      observer::open(observer::Track("image", image), "queued");
    for (int image = 1; image <= 3; ++image) {
      observer::run(observer::Track("image", image), "downloading");
      observer::read(observer::Track("image", image), "received 100 bytes");
      observer::close(observer::Track("image", image), "saved");
    }
  }
  const TraceFile file = read();
  double previous_done = 0;
  for (const std::string name : {"image 1", "image 2", "image 3"}) {
    const std::vector<TraceEvent> events = file.events_on(file.track(name));
    const std::vector<TraceEvent> slices = slices_of(events);
    ASSERT_THAT(slice_names(slices), ElementsAre("wait", "run")) << name;
    EXPECT_NEAR(slices[0].start_us, only_mark(events, "open").start_us, nanosecond) << name;
    EXPECT_NEAR(slices[1].start_us, slices[0].end_us(), nanosecond) << name;
    EXPECT_GE(slices[1].start_us + nanosecond, previous_done) << name;
    previous_done = only_mark(events, "close").start_us;
  }
}

TEST_F(TimelineTest, NarrationThatIsNotPlainTextStaysValidJson) {
  using namespace std::literals;
  {
    const Observing observing(false, path());
    observer::note("\"quoted\" \\ tab\t newline\n nul"sv, "\0"sv, " byte \xff");
  }
  EXPECT_EQ(read().events.at(0).narration,
            "\"quoted\" \\ tab\t newline\n nul"s + '\0' + " byte \u00ff");
}

TEST_F(TimelineTest, AFileThatCannotBeCreatedIsASystemErrorNamingIt) {
  const std::string in_no_folder = testing::TempDir() + "no such folder/timeline.json";
  try {
    const Observing observing(false, in_no_folder);
    ADD_FAILURE() << "no exception";
  } catch (const std::system_error& error) {
    EXPECT_THAT(error.what(), HasSubstr(in_no_folder));
    EXPECT_EQ(error.code(), std::errc::no_such_file_or_directory);
  }
}

TEST_F(TimelineTest, NarrationAndTimelineSayTheSameWords) {
  testing::internal::CaptureStderr();
  {
    const Observing observing(true, path());
    observer::read(5, "received ", 3, " bytes");
    observer::read(observer::Track("image", 7), "received ", 4, " bytes");
    observer::note("stopping");
  }
  EXPECT_EQ(testing::internal::GetCapturedStderr(),
            "trace: fd 5: received 3 bytes\ntrace: image 7: received 4 bytes\ntrace: stopping\n");
  const TraceFile file = read();
  ASSERT_EQ(file.events.size(), 3u);
  EXPECT_EQ(file.events[0].name, "read");
  EXPECT_EQ(file.events[0].narration, "fd 5: received 3 bytes");
  EXPECT_EQ(file.events[1].narration, "image 7: received 4 bytes");
  EXPECT_EQ(file.events[2].narration, "stopping");
}

// Counts how often it is written out, to tell whether an event was formatted.
struct CountedPart {
  int& written;
};
std::ostream& operator<<(std::ostream& out, const CountedPart& part) {
  ++part.written;
  return out << "part";
}

TEST_F(TimelineTest, WhatIsNotObservedIsNotFormatted) {
  int written = 0;
  observer::read(5, CountedPart{written});
  observer::wait(CountedPart{written});
  observer::wait(5, CountedPart{written});
  observer::run(observer::Track("task", 2), CountedPart{written});
  observer::note(CountedPart{written});
  EXPECT_EQ(written, 0);
  const Observing timeline_only(false, path());
  observer::read(5, CountedPart{written});
  EXPECT_EQ(written, 1);
}

TEST_F(TimelineTest, TheThreadsTrackIsTheLoopUnlessTheProgramNamesItOtherwise) {
  {
    const Observing observing(false, path());
    observer::wait("select()");
  }
  EXPECT_NO_THROW(read().track("loop"));
  {
    const Observing observing(false, path());
    observer::name_thread("server");
    observer::wait("blocking in accept()");
  }
  const TraceFile file = read();
  EXPECT_THAT(slice_names(file.events_on(file.track("server"))), ElementsAre("wait"));
}

TEST_F(TimelineTest, AConnectionsTrackIsNamedAfterItsPeer) {
  const common::FileDescriptor listener = common::listen_tcp("127.0.0.1", 0);
  sockaddr_in address{};
  socklen_t length = sizeof address;
  ASSERT_EQ(getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address), &length), 0);
  const common::FileDescriptor client(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(connect(client.get(), reinterpret_cast<sockaddr*>(&address), length), 0);
  const common::FileDescriptor served(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(served);
  {
    const Observing observing(false, path());
    observer::open(served.get(), "accepted");
  }
  const TraceFile file = read();
  ASSERT_EQ(file.connection_tracks().size(), 1u);
  EXPECT_EQ(file.track_names.at(file.connection_tracks()[0]),
            common::local_name(client.get()) + " (fd " + std::to_string(served.get()) + ")");
}

TEST_F(TimelineTest, NarrationShowsControlBytesInsteadOfSendingThemToTheTerminal) {
  testing::internal::CaptureStderr();
  {
    const Observing observing(true, "");
    observer::read(5, "GET /\x1b]0;TITLE\x07\x1b[2J");
  }
  EXPECT_EQ(testing::internal::GetCapturedStderr(),
            "trace: fd 5: GET /\\x1b]0;TITLE\\x07\\x1b[2J\n");
}

TEST_F(TimelineTest, AnExistingFileStaysAsItWasUntilTheTimelineIsFinished) {
  { std::ofstream(path()) << "the last run's timeline"; }
  {
    const Observing observing(false, path());
    observer::note("something happened");
    EXPECT_EQ(contents_of(path()), "the last run's timeline");
  }
  EXPECT_NO_THROW(read());
}

TEST_F(TimelineTest, ATimelineInWhichNothingHappenedReplacesNothing) {
  { std::ofstream(path()) << "the last run's timeline"; }
  { const Observing observing(false, path()); }
  EXPECT_EQ(contents_of(path()), "the last run's timeline");
  // Nor does it leave its hidden file behind.
  EXPECT_THAT(hidden_files_beside(path()), IsEmpty());
}

// What a program does with --timeline on a disk that fills up while it runs
// (here, a limit on the size of a file): it writes, and exits.
void observe_past_a_size_limit_then_exit(const std::string& path) {
  std::signal(SIGXFSZ, SIG_IGN);  // a write past the limit fails (EFBIG), not the process
  observer::start(false, path);
  rlimit limit{};
  getrlimit(RLIMIT_FSIZE, &limit);
  limit.rlim_cur = 4096;
  setrlimit(RLIMIT_FSIZE, &limit);
  for (int event = 0; event < 1000; ++event)
    observer::note("the loop's event number ", event);
  std::exit(0);
}

// At exit one line says so, and the exit code is 1 whatever main() returned,
// so that a script does not go on with a broken file. The last run's file
// stays, and no hidden file is left.
TEST_F(TimelineTest, AWriteThatFailsOnTheWayEndsTheProgramWithCodeOneAndReplacesNothing) {
  { std::ofstream(path()) << "the last run's timeline"; }
  EXPECT_EXIT(observe_past_a_size_limit_then_exit(path()), testing::ExitedWithCode(1),
              "the timeline could not be written to '.*': File too large");
  EXPECT_EQ(contents_of(path()), "the last run's timeline");
  EXPECT_THAT(hidden_files_beside(path()), IsEmpty());
}

// Like any file a program creates: 0666 less the umask, not more, not less.
TEST_F(TimelineTest, TheFileGetsThePermissionsTheUmaskLeaves) {
  for (const auto& [umask_given, permissions] :
       {std::pair<mode_t, mode_t>{077, 0600}, {002, 0664}}) {
    const mode_t before = umask(umask_given);
    {
      const Observing observing(false, path());
      observer::note("something happened");
    }
    umask(before);
    struct stat written {};
    ASSERT_EQ(stat(path().c_str(), &written), 0);
    EXPECT_EQ(written.st_mode & 0777, permissions) << "umask " << std::oct << umask_given;
  }
}

TEST_F(TimelineTest, ASymbolicLinkIsRefusedAndWhatItNamesIsLeftAlone) {
  const std::string target = path() + ".target";
  { std::ofstream(target) << "precious"; }
  ASSERT_EQ(symlink(target.c_str(), path().c_str()), 0);
  try {
    const Observing observing(false, path());
    ADD_FAILURE() << "no exception";
  } catch (const std::system_error& error) {
    EXPECT_THAT(error.what(), HasSubstr("symbolic link"));
  }
  EXPECT_EQ(contents_of(target), "precious");
  std::filesystem::remove(target);
}

TEST_F(TimelineTest, APipeOrADeviceIsRefusedAtOnceWithoutBlocking) {
  ASSERT_EQ(mkfifo(path().c_str(), 0600), 0);  // no reader: opening it would block
  EXPECT_THROW(Observing(false, path()), std::system_error);
  EXPECT_THROW(Observing(false, "/dev/full"), std::system_error);
}

}  // namespace
