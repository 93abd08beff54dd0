// image_downloader out of descriptors, as after `ulimit -n 64`: in async mode
// an image that cannot create its file fails alone, with the system's
// reason, and the run goes on to its summary.
//
// The test lowers its own limit for good (only a privileged process can
// raise it again) and the downloader inherits it, so this suite holds this
// one test alone.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <map>
#include <string>
#include <vector>

#include "tests/image_checks.hpp"
#include "tests/image_downloader_fixture.hpp"
#include "tests/program.hpp"

namespace {

using image_checks::is_valid_bitmap;
using image_downloader_fixture::ImageDownloaderTest;
using image_downloader_fixture::lines_of;
using image_downloader_fixture::url_of;

TEST_F(ImageDownloaderTest, AnImageThatCannotCreateItsFileFailsAloneWithTheReason) {
  // Started first, the server keeps the usual limit.
  test_support::Server server("image_server", {"--latency-ms", "0"});
  const rlimit low{64, 64};
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  const test_support::Finished run =
      download({"--url", url_of(server.port(), "/320/240"), "--count", "200", "--mode", "async"});

  EXPECT_EQ(run.exit_code, 1);
  // Every image is either a whole file or one line that says why not.
  const std::map<std::string, std::string> files = saved_files();
  const std::vector<std::string> failures = lines_of(run.error);
  EXPECT_EQ(files.size() + failures.size(), 200u) << run.error;
  long out_of_descriptors = 0;
  for (const std::string& failure : failures) {
    EXPECT_THAT(failure, testing::StartsWith("failed: async-"));
    if (failure.ends_with("Too many open files")) ++out_of_descriptors;
  }
  EXPECT_GT(out_of_descriptors, 0) << run.error;
  for (const auto& [name, contents] : files) {
    EXPECT_FALSE(name.starts_with('.')) << name;
    EXPECT_TRUE(is_valid_bitmap(contents)) << name;
  }
  EXPECT_THAT(run.output,
              testing::MatchesRegex(
                  "Asynchronous download of [0-9]+ of 200 images took: [0-9.]+ seconds\\.\n"));
}

}  // namespace
