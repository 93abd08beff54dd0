// The pictures image_server serves: 24-bit BMP, the simplest format every
// viewer opens, and one a few lines of code can write.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace lesson6 {

// The largest width and height a Bitmap takes: 1024 x 1024 is 3 MiB to make
// and send, which is as much as one request may ask of the server.
constexpr std::uint32_t max_picture_side = 1024;

// A width x height picture (each 1 to max_picture_side): a diagonal blend
// between two colours chosen by `number`, not a photo. Its first pixel has
// the first of those colours, and the first 16 million numbers all give a
// different one: no two pictures are alike, whatever their sizes. It is made
// a few rows at a time, as it is sent, so it is never in memory whole.
class Bitmap {
 public:
  Bitmap(std::uint32_t number, std::uint32_t width, std::uint32_t height);

  std::uint32_t height() const { return height_; }
  // The whole file: header() and every row.
  std::size_t file_size() const { return header_size + std::size_t{row_size()} * height_; }
  // The file's first bytes: its size, the picture's width and height, and
  // how its pixels are stored.
  std::string header() const;
  // Rows first to first + count - 1 (those of them there are), in the file's
  // order: the bottom row first.
  std::string rows(std::uint32_t first, std::uint32_t count) const;

 private:
  static constexpr std::uint32_t header_size = 14 + 40;  // the file header, the info header
  std::uint32_t row_size() const { return (width_ * 3 + 3) / 4 * 4; }  // padded to 4 bytes

  std::uint32_t width_;
  std::uint32_t height_;
  // The blend, a pixel a step: row y is a slice of it, from pixel y on.
  std::string strip_;
};

}  // namespace lesson6
