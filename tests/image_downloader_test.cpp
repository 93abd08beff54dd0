// image_downloader against image_server on loopback: every image arrives
// intact in both modes, /stats proves the async mode overlaps its requests
// (and --max-parallel bounds them) without timing anything, and each kind of
// failure is one clear line, exit code 1 and no file left behind.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/net.hpp"
#include "tests/image_checks.hpp"
#include "tests/image_downloader_fixture.hpp"
#include "tests/program.hpp"

namespace {

using namespace std::chrono_literals;
using image_checks::is_valid_bitmap;
using image_checks::stat;
using image_checks::stat_once_it_is;
using image_downloader_fixture::ImageDownloaderTest;
using image_downloader_fixture::lines_of;
using test_support::port_of;
using testing::ElementsAre;
using testing::HasSubstr;
using testing::IsEmpty;
using testing::MatchesRegex;
using testing::Not;
using testing::StartsWith;

std::string image_url(std::uint16_t port, std::string_view path = "/image") {
  return image_downloader_fixture::url_of(port, path);
}

TEST_F(ImageDownloaderTest, BothModesSaveEveryImageIntactAndEachOneDifferent) {
  // The course's run, offline: loremflickr.com/320/240 is image_server's /320/240.
  test_support::Server server("image_server", {"--latency-ms", "50"});
  const test_support::Finished run =
      download({"--url", image_url(server.port(), "/320/240"), "--count", "3"});

  EXPECT_EQ(run.exit_code, 0) << run.error;
  const std::map<std::string, std::string> files = saved_files();
  EXPECT_THAT(names_of(files), ElementsAre("async-01.bmp", "async-02.bmp", "async-03.bmp",
                                           "sync-01.bmp", "sync-02.bmp", "sync-03.bmp"));
  std::set<std::string> different;
  for (const auto& [name, contents] : files) {
    EXPECT_TRUE(is_valid_bitmap(contents)) << name;
    different.insert(contents);
  }
  EXPECT_EQ(different.size(), files.size());
  EXPECT_EQ(stat(server.port(), "images_served"), 6);

  // Not a terminal: no progress line, only the course's two lines, then ours.
  const std::vector<std::string> lines = lines_of(run.output);
  ASSERT_EQ(lines.size(), 3u) << run.output;
  EXPECT_THAT(lines[0], MatchesRegex("Synchronous download of 3 images took: [0-9.]+ seconds\\."));
  EXPECT_THAT(lines[1], MatchesRegex("Asynchronous download of 3 images took: [0-9.]+ seconds\\."));
  EXPECT_THAT(lines[2], MatchesRegex("async was [0-9.]+x faster than sync"));
}

TEST_F(ImageDownloaderTest, AsyncModeHasEveryRequestInFlightAtOnce) {
  test_support::Server server("image_server", {"--latency-ms", "1000"});
  const test_support::Finished run =
      download({"--url", image_url(server.port()), "--count", "20", "--mode", "async"});

  EXPECT_EQ(run.exit_code, 0) << run.error;
  EXPECT_EQ(saved_files().size(), 20u);
  EXPECT_EQ(stat(server.port(), "images_served"), 20);
  EXPECT_EQ(stat(server.port(), "max_in_flight"), 20);
}

TEST_F(ImageDownloaderTest, SyncModeHasOneRequestInFlightAtATime) {
  test_support::Server server("image_server", {"--latency-ms", "20"});
  const test_support::Finished run =
      download({"--url", image_url(server.port()), "--count", "4", "--mode", "sync"});

  EXPECT_EQ(run.exit_code, 0) << run.error;
  EXPECT_EQ(saved_files().size(), 4u);
  EXPECT_EQ(stat(server.port(), "images_served"), 4);
  EXPECT_EQ(stat(server.port(), "max_in_flight"), 1);
}

TEST_F(ImageDownloaderTest, MaxParallelKeepsThatManyRequestsInFlightAndNoMore) {
  test_support::Server server("image_server", {"--latency-ms", "300"});
  const test_support::Finished run = download({"--url", image_url(server.port()), "--count", "9",
                                               "--mode", "async", "--max-parallel", "3"});

  EXPECT_EQ(run.exit_code, 0) << run.error;
  EXPECT_EQ(saved_files().size(), 9u);
  EXPECT_EQ(stat(server.port(), "images_served"), 9);
  EXPECT_EQ(stat(server.port(), "max_in_flight"), 3);
}

TEST_F(ImageDownloaderTest, A404IsOneLinePerImageExitCode1AndNoFile) {
  test_support::Server server("image_server", {"--latency-ms", "0"});
  const std::string url = image_url(server.port(), "/no-such-page");
  const test_support::Finished run = download({"--url", url, "--count", "2"});

  expect_failed(run, 4, {url, "HTTP 404"});  // two images, two modes, and no hint
  // The course's lines say how many arrived; no speed-up without every image.
  EXPECT_THAT(lines_of(run.output),
              ElementsAre(StartsWith("Synchronous download of 0 of 2 images took: "),
                          StartsWith("Asynchronous download of 0 of 2 images took: ")));
}

TEST_F(ImageDownloaderTest, APasswordInTheUrlIsNeverPrinted) {
  test_support::Server server("image_server", {"--latency-ms", "0"});
  const std::string url =
      "http://reader:hunter2@127.0.0.1:" + std::to_string(server.port()) + "/no-such-page";
  const test_support::Finished failed = download({"--url", url, "--count", "1"});
  EXPECT_EQ(failed.exit_code, 1);
  EXPECT_EQ(lines_of(failed.error).size(), 2u) << failed.error;
  EXPECT_THAT(failed.error, HasSubstr("reader:***@127.0.0.1:"));
  EXPECT_THAT(failed.error + failed.output, Not(HasSubstr("hunter2")));

  // A URL refused before any download is shown masked too.
  const test_support::Finished refused =
      download({"--url", "http://reader:hunter2@127.0.0.1:99999/image"});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_THAT(refused.error, HasSubstr("reader:***@"));
  EXPECT_THAT(refused.error, Not(HasSubstr("hunter2")));
}

// No network needed: a name under .invalid never resolves (RFC 6761), which
// is what every name looks like to a computer that is offline.
TEST_F(ImageDownloaderTest, AHostThatDoesNotResolveEndsWithHowToRunOffline) {
  const test_support::Finished run =
      download({"--url", "http://images.example.invalid/320/240", "--count", "1"});
  EXPECT_EQ(run.exit_code, 1);
  const std::vector<std::string> lines = lines_of(run.error);
  ASSERT_EQ(lines.size(), 3u) << run.error;  // one failure per mode, then the hint
  EXPECT_THAT(lines[0], HasSubstr("resolve"));
  EXPECT_THAT(lines[1], HasSubstr("resolve"));
  EXPECT_THAT(lines[2], HasSubstr("scripts/run.sh 6"));
  EXPECT_THAT(saved_files(), IsEmpty());
}

TEST_F(ImageDownloaderTest, ARefusedConnectionIsReportedWithExitCode1AndNoFile) {
  // A socket that is bound but not listening: connecting to its port is
  // refused, and no other program can take the port meanwhile.
  const common::FileDescriptor bound(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(bound.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
  const std::string url = image_url(port_of(bound.get()));
  const test_support::Finished run = download({"--url", url, "--count", "2"});

  expect_failed(run, 4, {url, "connect"});
}

TEST_F(ImageDownloaderTest, ATimeoutIsReportedWithExitCode1AndNoFile) {
  test_support::Server server("image_server", {"--latency-ms", "10000"});
  const test_support::Finished run =
      download({"--url", image_url(server.port()), "--count", "2", "--timeout-ms", "200"});

  expect_failed(run, 4, {"Timeout"});
}

// Ctrl-C, SIGTERM, or SIGHUP from a terminal that closes, while every
// transfer waits on a server that takes a minute: the program stops at once
// in either mode, and the hidden .part files go too. With --max-parallel 2,
// the third image is stopped while it waits in line for a slot.
TEST_F(ImageDownloaderTest, AStopSignalStopsEitherModeAndLeavesNoFile) {
  struct Way {
    const char* mode;
    const char* max_parallel;
    long in_flight;
  };
  for (const int signal_number : {SIGINT, SIGTERM, SIGHUP}) {
    for (const auto& [mode, max_parallel, in_flight] :
         {Way{"sync", "0", 1}, Way{"async", "0", 3}, Way{"async", "2", 2}}) {
      const std::string story = std::string(mode) + ", --max-parallel " + max_parallel +
                                ", signal " + std::to_string(signal_number);
      test_support::Server server("image_server", {"--latency-ms", "60000"});
      test_support::Program downloader(
          "image_downloader", {"--url", image_url(server.port()), "--count", "3", "--mode", mode,
                               "--max-parallel", max_parallel, "--out", out().string()});
      // No message says "every request has arrived", so ask /stats.
      ASSERT_EQ(stat_once_it_is(server.port(), "in_flight", in_flight), in_flight) << story;

      downloader.send_signal(signal_number);
      EXPECT_EQ(downloader.wait_for_exit(10s), 1) << story;
      EXPECT_THAT(downloader.error_output(), HasSubstr("interrupted")) << story;
      EXPECT_THAT(saved_files(), IsEmpty()) << story;
    }
  }
}

TEST_F(ImageDownloaderTest, RefusesAMalformedUrlBeforeAnyDownload) {
  for (const std::string url : {"127.0.0.1:5000/image", "ftp://127.0.0.1/image", "http://",
                                "http://127.0.0.1:5000/an image"}) {
    const test_support::Finished run = download({"--url", url});
    EXPECT_EQ(run.exit_code, 2) << url;
    EXPECT_EQ(lines_of(run.error).size(), 1u) << run.error;
    EXPECT_FALSE(std::filesystem::exists(out())) << url;
  }
}

TEST_F(ImageDownloaderTest, RefusesBadFlagsWithExitCode2) {
  for (const std::vector<std::string>& arguments : std::vector<std::vector<std::string>>{
           {"--mode", "fast"}, {"--count", "0"}, {"--max-parallel", "-1"}, {"--nope"}}) {
    const test_support::Finished run = download(arguments);
    EXPECT_EQ(run.exit_code, 2) << arguments.front();
    EXPECT_FALSE(std::filesystem::exists(out()));
  }
}

TEST_F(ImageDownloaderTest, AnEmptyOutIsABadArgument) {
  const test_support::Finished run =
      test_support::run_program("image_downloader", {"--out", "", "--count", "1"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(lines_of(run.error), ElementsAre(HasSubstr("bad value '' for --out")));
}

// Where the folder cannot be, one line says why, and nothing is downloaded.
TEST_F(ImageDownloaderTest, AnOutThatCannotBeAFolderIsOneLineThatSaysWhy) {
  std::filesystem::create_symlink(scratch() / "missing", scratch() / "dangling");
  std::ofstream(scratch() / "a-file") << "not a folder\n";
  test_support::Server server("image_server", {"--latency-ms", "0"});
  const std::string dangling = (scratch() / "dangling").string();
  const std::string a_file = (scratch() / "a-file").string();
  const std::string leads_nowhere =
      dangling + " is a link to " + (scratch() / "missing").string() + ", which does not exist";
  const std::vector<std::pair<std::filesystem::path, std::string>> cases = {
      {dangling, leads_nowhere},
      {dangling + "/images", leads_nowhere},
      {a_file, a_file + " is not a folder"},
      {a_file + "/images", a_file + " is not a folder"}};
  for (const auto& [out, reason] : cases) {
    const test_support::Finished run = test_support::run_program(
        "image_downloader",
        {"--url", image_url(server.port()), "--count", "1", "--out", out.string()});
    EXPECT_EQ(run.exit_code, 1) << out;
    EXPECT_THAT(lines_of(run.error), ElementsAre("image_downloader: cannot save images in --out " +
                                                 out.string() + ": " + reason));
    EXPECT_EQ(run.output, "") << out;
  }
  EXPECT_FALSE(std::filesystem::exists(scratch() / "missing"));
  EXPECT_EQ(stat(server.port(), "images_served"), 0);
}

}  // namespace
