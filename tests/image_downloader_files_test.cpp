// image_downloader's files are complete or absent: never written through a
// link somebody planted in the folder, never mixed from two images, never
// put over a file that is there already (two runs into one folder keep every
// image of both), and no hidden leftovers.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
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

// The first `served` pictures image_server made at 320 x 240. A saved image
// must be one of them byte for byte: not a mix of two, not a piece of one.
std::set<std::string> pictures_made(long served) {
  std::set<std::string> pictures;
  for (long number = 1; number <= served; ++number) {
    const lesson6::Bitmap picture(static_cast<std::uint32_t>(number), 320, 240);
    pictures.insert(picture.header() + picture.rows(0, picture.height()));
  }
  return pictures;
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
  for (const char* name : {".sync-01.part", ".async-01.part", "sync-02.bmp"}) {
    EXPECT_TRUE(std::filesystem::is_symlink(out() / name)) << name;
    EXPECT_EQ(std::filesystem::read_symlink(out() / name), victim) << name;
  }
  // The image whose name was taken has the next one.
  const std::set<std::string> pictures = pictures_made(stat(server.port(), "images_served"));
  for (const char* name : {"sync-01.bmp", "sync-02-2.bmp", "async-01.bmp", "async-02.bmp"}) {
    EXPECT_FALSE(std::filesystem::is_symlink(out() / name)) << name;
    EXPECT_TRUE(pictures.contains(contents_of(out() / name))) << name;
  }
  EXPECT_EQ(saved_files().size(), 7u);
}

TEST_F(ImageDownloaderTest, AFileThatIsThereAlreadyIsNeverReplaced) {
  std::filesystem::create_directory(out());
  write_file(out() / "sync-01.bmp", "an earlier run's, or somebody's\n");
  test_support::Server server("image_server", {"--latency-ms", "0"});
  const std::vector<std::string> arguments = {
      "--url", url_of(server.port(), "/320/240"), "--count", "1", "--mode", "sync"};
  for (int run = 1; run <= 2; ++run) {
    const test_support::Finished finished = download(arguments);
    EXPECT_EQ(finished.exit_code, 0) << finished.error;
  }

  const std::map<std::string, std::string> files = saved_files();
  EXPECT_THAT(names_of(files),
              testing::ElementsAre("sync-01-2.bmp", "sync-01-3.bmp", "sync-01.bmp"));
  EXPECT_EQ(files.at("sync-01.bmp"), "an earlier run's, or somebody's\n");
  const std::set<std::string> pictures = pictures_made(2);
  EXPECT_TRUE(pictures.contains(files.at("sync-01-2.bmp")));
  EXPECT_TRUE(pictures.contains(files.at("sync-01-3.bmp")));
  EXPECT_NE(files.at("sync-01-2.bmp"), files.at("sync-01-3.bmp"));
}

// Both runs say they saved 30 images each way, and all 120 are there.
TEST_F(ImageDownloaderTest, TwoRunsIntoOneFolderKeepEveryImageOfBothWhole) {
  test_support::Server server("image_server", {"--latency-ms", "20"});
  const std::vector<std::string> arguments = {
      "--url", url_of(server.port(), "/320/240"), "--count", "30", "--out", out().string()};
  test_support::Program first("image_downloader", arguments);
  test_support::Program second("image_downloader", arguments);
  EXPECT_EQ(first.wait_for_exit(60s), 0) << first.error_output();
  EXPECT_EQ(second.wait_for_exit(60s), 0) << second.error_output();

  const long served = stat(server.port(), "images_served");
  EXPECT_EQ(served, 120);
  const std::map<std::string, std::string> files = saved_files();
  EXPECT_EQ(files.size(), 120u);  // sync-01 to -30 and async-01 to -30, twice; nothing hidden
  const std::set<std::string> pictures = pictures_made(served);
  std::set<std::string> different;
  for (const auto& [name, contents] : files) {
    EXPECT_FALSE(name.starts_with('.')) << name;
    EXPECT_TRUE(pictures.contains(contents)) << name << " is not one of the pictures served";
    different.insert(contents);
  }
  EXPECT_EQ(different.size(), files.size());  // each picture served is saved once
}

}  // namespace
