// What the image_server and image_downloader suites both check: that some
// bytes are a 24-bit BMP any viewer opens, and what image_server's /stats
// page says.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <regex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

#include "tests/program.hpp"

namespace image_checks {

inline std::uint32_t little_endian(std::string_view bytes, std::size_t at, int size) {
  std::uint32_t value = 0;
  for (int i = size - 1; i >= 0; --i) {
    value = value << 8 | static_cast<unsigned char>(bytes[at + static_cast<std::size_t>(i)]);
  }
  return value;
}

// The file header ("BM", the file's size, where the pixels start), the
// 40-byte info header (a width and height, one plane, 24 bits per pixel, no
// compression), and exactly the pixel bytes those promise, rows padded to 4.
inline testing::AssertionResult is_valid_bitmap(std::string_view bytes) {
  if (bytes.size() < 54) return testing::AssertionFailure() << bytes.size() << " bytes only";
  if (bytes.substr(0, 2) != "BM") return testing::AssertionFailure() << "no BM signature";
  if (little_endian(bytes, 2, 4) != bytes.size()) {
    return testing::AssertionFailure() << "the header says " << little_endian(bytes, 2, 4)
                                       << " bytes, the file has " << bytes.size();
  }
  const std::uint32_t pixels_at = little_endian(bytes, 10, 4);
  const std::uint32_t width = little_endian(bytes, 18, 4);
  const std::uint32_t height = little_endian(bytes, 22, 4);
  if (little_endian(bytes, 14, 4) != 40 || little_endian(bytes, 26, 2) != 1 ||
      little_endian(bytes, 28, 2) != 24 || little_endian(bytes, 30, 4) != 0) {
    return testing::AssertionFailure() << "not an uncompressed 24-bit info header";
  }
  if (width == 0 || height == 0 || width > 10000 || height > 10000) {
    return testing::AssertionFailure() << "a " << width << " x " << height << " picture";
  }
  const std::size_t row_size = (width * 3 + 3) / 4 * 4;
  if (pixels_at < 54 || pixels_at + row_size * height != bytes.size()) {
    return testing::AssertionFailure()
           << "the pixels of " << width << " x " << height << " do not fill the file";
  }
  return testing::AssertionSuccess();
}

// A bitmap's width and height, as its info header says (check
// is_valid_bitmap() first).
struct BitmapSize {
  std::uint32_t width;
  std::uint32_t height;
  bool operator==(const BitmapSize&) const = default;
};
inline BitmapSize bitmap_size(std::string_view bytes) {
  return {little_endian(bytes, 18, 4), little_endian(bytes, 22, 4)};
}

// The whole answer (status line, headers, body) to "GET target", on a fresh
// connection that the server closes after answering.
inline std::string http_get(std::uint16_t port, std::string_view target) {
  const common::FileDescriptor connection = test_support::connect_to(port);
  test_support::send_all(connection.get(), "GET " + std::string(target) +
                                               " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                               "Connection: close\r\n\r\n");
  return test_support::receive_exactly(connection.get(), std::numeric_limits<std::size_t>::max());
}

// One number from /stats: stat(port, "max_in_flight").
inline long stat(std::uint16_t port, const std::string& name) {
  const std::string answer = http_get(port, "/stats");
  std::smatch match;
  if (!std::regex_search(answer, match, std::regex("\"" + name + "\": *([0-9]+)"))) {
    throw std::runtime_error("no " + name + " in /stats: " + answer);
  }
  return std::stol(match[1]);
}

// Asks /stats until `name` shows `value`, 500 times at most, 10 ms apart (an
// answer comes at once): what it saw last.
inline long stat_once_it_is(std::uint16_t port, const std::string& name, long value) {
  long seen = stat(port, name);
  for (int asked = 1; seen != value && asked < 500; ++asked) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    seen = stat(port, name);
  }
  return seen;
}

}  // namespace image_checks
