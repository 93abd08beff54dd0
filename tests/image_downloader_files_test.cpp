// image_downloader's files are complete or absent: never written through a
// link somebody planted in the folder, never mixed from two images when two
// runs share a folder, and no hidden leftovers.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "6_async_await/support/bitmap.hpp"
#include "tests/image_checks.hpp"
#include "tests/image_downloader_fixture.hpp"
#include "tests/program.hpp"

namespace {

using image_checks::stat;
using image_downloader_fixture::contents_of;
using image_downloader_fixture::ImageDownloaderTest;
using image_downloader_fixture::url_of;
using namespace std::chrono_literals;

// Whether `bytes` are, byte for byte, one of the first `served` 320 x 240
// pictures image_server made: not a mix of two, not a piece of one.
testing::AssertionResult is_a_served_picture(const std::string& bytes, long served) {
  for (long number = 1; number <= served; ++number) {
    if (bytes == lesson6::make_bitmap(static_cast<std::uint32_t>(number), 320, 240)) {
      return testing::AssertionSuccess();
    }
  }
  return testing::AssertionFailure() << "not one of the " << served << " pictures served";
}

void write_file(const std::filesystem::path& path, const std::string& contents) {
  std::ofstream(path, std::ios::binary) << contents;
}

TEST_F(ImageDownloaderTest, LinksPlantedInTheFolderAreLeftAloneAndTheirTargetsUntouched) {
  const std::filesystem::path victim = scratch() / "victim";
  write_file(victim, "precious\n");
  std::filesystem::create_directory(out());
  // Where the downloader once put its partial files, and a final name.
  for (const char* name : {".sync-01.part", ".async-01.part", "sync-02.bmp"}) {
    std::filesystem::create_symlink(victim, out() / name);
  }
  test_support::Server server("image_server", {"--latency-ms", "0"});
  const test_support::Finished run =
      download({"--url", url_of(server.port(), "/320/240"), "--count", "2"});

  EXPECT_EQ(run.exit_code, 0) << run.error;
  EXPECT_EQ(contents_of(victim), "precious\n");
  for (const char* name : {".sync-01.part", ".async-01.part"}) {
    EXPECT_TRUE(std::filesystem::is_symlink(out() / name)) << name;
    EXPECT_EQ(std::filesystem::read_symlink(out() / name), victim) << name;
  }
  // The new image replaces the link to the victim, not the victim.
  const long served = stat(server.port(), "images_served");
  for (const char* name : {"sync-01.bmp", "sync-02.bmp", "async-01.bmp", "async-02.bmp"}) {
    EXPECT_FALSE(std::filesystem::is_symlink(out() / name)) << name;
    EXPECT_TRUE(is_a_served_picture(contents_of(out() / name), served)) << name;
  }
  EXPECT_EQ(saved_files().size(), 6u);
}

TEST_F(ImageDownloaderTest, TwoRunsIntoOneFolderEachSaveOnlyWholeImages) {
  test_support::Server server("image_server", {"--latency-ms", "20"});
  const std::vector<std::string> arguments = {
      "--url", url_of(server.port(), "/320/240"), "--count", "30", "--out", out().string()};
  test_support::Program first("image_downloader", arguments);
  test_support::Program second("image_downloader", arguments);
  EXPECT_EQ(first.wait_for_exit(60s), 0) << first.error_output();
  EXPECT_EQ(second.wait_for_exit(60s), 0) << second.error_output();

  const std::map<std::string, std::string> files = saved_files();
  EXPECT_EQ(files.size(), 60u);  // sync-01 to -30 and async-01 to -30; nothing hidden
  const long served = stat(server.port(), "images_served");
  EXPECT_EQ(served, 120);
  for (const auto& [name, contents] : files) {
    EXPECT_FALSE(name.starts_with('.')) << name;
    EXPECT_TRUE(is_a_served_picture(contents, served)) << name;
  }
}

}  // namespace
