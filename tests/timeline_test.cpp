// What a Tracer writes to --timeline's file (common/timeline.hpp): the loop's
// waits and what woke them, a track per connection (or task, or transfer)
// whose runs and waits alternate, each wait saying what for once the track
// said so, marks for reads and writes, and valid JSON whatever happens.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "common/command_line.hpp"
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
    const common::Tracer trace(false, path());
    trace.wait("select(): waiting");
    trace.run(7, "ready to read, running its callback");
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
    const common::Tracer trace(false, path());
    trace.open(5, "accepted");
    trace.wait("select()");
    trace.run(5, "ready to read");
    trace.read(5, "received 3 bytes");
    trace.write(5, "sent them all back");
    trace.wait("select()");
    trace.run(5, "ready to read");
    trace.read(5, "the client has finished sending");
    trace.close(5, "closing");
  }
  const TraceFile file = read();
  ASSERT_EQ(file.connection_tracks().size(), 1u);
  const int track = file.connection_tracks()[0];
  EXPECT_EQ(file.track_names.at(track), "connection 1 (fd 5)");
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
    const common::Tracer trace(false, path());
    trace.wait("blocking in accept()");
    trace.open(4, "accepted");
    trace.wait("blocking in recv()");
    trace.read(4, "received 6 bytes");
    trace.write(4, "sent them back");
    trace.wait("blocking in recv()");
    trace.close(4, "closing");
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
    const common::Tracer trace(false, path());
    trace.open(5, "accepted");
    trace.close(5, "closing");
    trace.open(5, "accepted");
    trace.read(5, "received 1 bytes");
    trace.open(5, "accepted");  // a program that forgot close(): the old one ends here
  }
  const TraceFile file = read();
  const std::vector<int> tracks = file.connection_tracks();
  ASSERT_EQ(tracks.size(), 3u);
  EXPECT_EQ(file.track_names.at(tracks[0]), "connection 1 (fd 5)");
  EXPECT_EQ(file.track_names.at(tracks[1]), "connection 2 (fd 5)");
  EXPECT_EQ(file.track_names.at(tracks[2]), "connection 3 (fd 5)");
  EXPECT_THAT(mark_names(file.events_on(tracks[0])), ElementsAre("open", "close"));
  EXPECT_THAT(mark_names(file.events_on(tracks[1])), ElementsAre("open", "read"));
  EXPECT_THAT(mark_names(file.events_on(tracks[2])), ElementsAre("open"));
}

TEST_F(TimelineTest, EventsOfOtherDescriptorsAndNotesOfTheLoopAreTheLoops) {
  {
    const common::Tracer trace(false, path());
    trace.open(5, "accepted");
    trace.run(5, "ready to read");
    trace.note(3, "the listener rests");  // 3 is no connection
    trace("stopping: closing every connection");
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

TEST_F(TimelineTest, WhatIsStillGoingOnEndsWhenTheLastCopyOfTheTracerGoes) {
  {
    const common::Tracer trace(false, path());
    {
      const common::Tracer copy = trace;
      copy.open(5, "accepted");
    }
    trace.run(5, "ready to read");
    trace.open(6, "accepted");
    trace.wait("select()");
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
    const common::Tracer trace(false, path());
    trace.open(5, "accepted");
    trace.run(5, "running task 2");
    trace.read(5, "received 3 bytes");
    trace.wait(5, "task 2 waits to write");
    trace.run(5, "running task 2");
    trace.write(5, "sent 3 bytes back");
    trace.wait(5, "task 2 waits to read");
    trace.wait("select()");
    trace("fd 5 is ready to read: task 2 can run");
    trace.close(5, "task 2 finished");
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
    const common::Tracer trace(false, path());
    trace.open(5, "accepted");
    trace.wait(5, "waits to read");
    trace.wait(5, "waits to write");
    trace.close(5, "closing");
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
    const common::Tracer trace(false, path());
    trace.run(-1, "running task 1");
    trace.wait(3, "task 1 waits to read");
    trace.wait("select()");
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
    const common::Tracer trace(false, path());
    trace.open(common::Track("task", 1), "print_numbers starts");
    trace.open(common::Track("task", 2), "print_seconds starts");
    trace.open(5, "accepted");
    trace.open(common::Track("image", 7), "GET /320/240");
    trace.run(common::Track("task", 1), "its timer is due");
  }
  const TraceFile file = read();
  const std::vector<int> connections = file.connection_tracks();
  ASSERT_EQ(connections.size(), 1u);
  // Only connections count in "connection N".
  EXPECT_EQ(file.track_names.at(connections[0]), "connection 1 (fd 5)");
  const std::vector<TraceEvent> task = file.events_on(file.track("task 1"));
  EXPECT_EQ(only_mark(task, "open").narration, "task 1: print_numbers starts");
  EXPECT_EQ(slices_of(task).at(1).narration, "task 1: its timer is due");
  EXPECT_EQ(only_mark(file.events_on(file.track("image 7")), "open").narration,
            "image 7: GET /320/240");
  EXPECT_NO_THROW(file.track("task 2"));
}

TEST_F(TimelineTest, ATrackOfANounAndADescriptorOfTheSameNumberAreTwoTracks) {
  {
    const common::Tracer trace(false, path());
    trace.open(common::Track("task", 5), "starts");
    trace.open(5, "accepted");
    trace.read(5, "received 2 bytes");
    trace.note(common::Track("task", 5), "sleeps");
  }
  const TraceFile file = read();
  EXPECT_THAT(mark_names(file.events_on(file.track("connection 1 (fd 5)"))),
              ElementsAre("open", "read"));
  EXPECT_THAT(mark_names(file.events_on(file.track("task 5"))), ElementsAre("open", "note"));
}

// The downloader's sync mode: every image is known at once, and each waits
// for its turn, which comes when the one before it is done.
TEST_F(TimelineTest, TransfersServedOneAfterAnotherWaitOnTheirOwnTracksForTheirTurn) {
  {
    const common::Tracer trace(false, path());
    for (int image = 1; image <= 3; ++image)
      trace.open(common::Track("image", image), "queued");
    for (int image = 1; image <= 3; ++image) {
      trace.run(common::Track("image", image), "downloading");
      trace.read(common::Track("image", image), "received 100 bytes");
      trace.close(common::Track("image", image), "saved");
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
    const common::Tracer trace(false, path());
    trace("\"quoted\" \\ tab\t newline\n nul"sv, "\0"sv, " byte \xff");
  }
  EXPECT_EQ(read().events.at(0).narration,
            "\"quoted\" \\ tab\t newline\n nul"s + '\0' + " byte \u00ff");
}

TEST_F(TimelineTest, AFileThatCannotBeCreatedIsASystemErrorNamingIt) {
  const std::string in_no_folder = testing::TempDir() + "no such folder/timeline.json";
  try {
    const common::Tracer trace(false, in_no_folder);
    ADD_FAILURE() << "no exception";
  } catch (const std::system_error& error) {
    EXPECT_THAT(error.what(), HasSubstr(in_no_folder));
    EXPECT_EQ(error.code(), std::errc::no_such_file_or_directory);
  }
}

TEST_F(TimelineTest, NarrationAndTimelineSayTheSameWords) {
  testing::internal::CaptureStderr();
  {
    const common::Tracer trace(true, path());
    trace.read(5, "received ", 3, " bytes");
    trace.read(common::Track("image", 7), "received ", 4, " bytes");
    trace("stopping");
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

TEST_F(TimelineTest, ATracerWithNeitherOutputFormatsNothing) {
  int written = 0;
  const common::Tracer off(false);
  off.read(5, CountedPart{written});
  off.wait(CountedPart{written});
  off.wait(5, CountedPart{written});
  off.run(common::Track("task", 2), CountedPart{written});
  off(CountedPart{written});
  EXPECT_EQ(written, 0);
  const common::Tracer timeline_only(false, path());
  timeline_only.read(5, CountedPart{written});
  EXPECT_EQ(written, 1);
}

}  // namespace
