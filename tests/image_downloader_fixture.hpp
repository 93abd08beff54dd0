// What every image_downloader suite shares: a scratch folder per test, a way
// to run the downloader into it, and a look at what it left there.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "tests/program.hpp"

namespace image_downloader_fixture {

using namespace std::chrono_literals;

inline std::string url_of(std::uint16_t port, std::string_view path) {
  return "http://127.0.0.1:" + std::to_string(port) + std::string(path);
}

inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);)
    lines.push_back(line);
  return lines;
}

inline std::string contents_of(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

class ImageDownloaderTest : public testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "image_downloader_test.XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    scratch_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(scratch_); }

  // A folder of the test's own, removed after it.
  const std::filesystem::path& scratch() const { return scratch_; }
  // The downloader's output folder: it does not exist before it runs.
  std::filesystem::path out() const { return scratch_ / "images"; }

  test_support::Finished download(std::vector<std::string> arguments) const {
    arguments.insert(arguments.end(), {"--out", out().string()});
    return test_support::run_program("image_downloader", arguments, {}, 60s);
  }

  // Every file in the output folder, hidden ones too: name -> contents.
  std::map<std::string, std::string> saved_files() const {
    std::map<std::string, std::string> files;
    if (!std::filesystem::exists(out())) return files;
    for (const auto& entry : std::filesystem::directory_iterator(out())) {
      files[entry.path().filename().string()] = contents_of(entry.path());
    }
    return files;
  }

  // A run in which images failed and none was saved: exit code 1, and
  // `failures` lines on standard error, each of them containing every one
  // of `each_says`.
  void expect_failed(const test_support::Finished& run, std::size_t failures,
                     const std::vector<std::string>& each_says) const {
    EXPECT_EQ(run.exit_code, 1);
    const std::vector<std::string> lines = lines_of(run.error);
    EXPECT_EQ(lines.size(), failures) << run.error;
    for (const std::string& line : lines) {
      for (const std::string& said : each_says)
        EXPECT_THAT(line, testing::HasSubstr(said));
    }
    EXPECT_THAT(saved_files(), testing::IsEmpty());
  }

  static std::vector<std::string> names_of(const std::map<std::string, std::string>& files) {
    std::vector<std::string> names;
    for (const auto& [name, contents] : files)
      names.push_back(name);
    return names;
  }

 private:
  std::filesystem::path scratch_;
};

}  // namespace image_downloader_fixture
