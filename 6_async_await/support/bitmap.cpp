#include "6_async_await/support/bitmap.hpp"

#include <algorithm>

namespace lesson6 {

namespace {

// Every number in a BMP header is little-endian.
void append_number(std::string& out, std::uint32_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) {
    out += static_cast<char>((value >> (8 * i)) & 0xFF);
  }
}

// Multiplying by an odd number is one-to-one on 24 bits, so the first 16
// million pictures all start with a different colour: no two are alike.
std::uint32_t colour_of(std::uint32_t number, std::uint32_t odd_multiplier) {
  return (number * odd_multiplier) & 0xFFFFFF;
}

}  // namespace

// Pixel (x, y) gets step x + y of the blend, so every row is a slice of one
// strip of steps, starting one pixel further along than the row below.
Bitmap::Bitmap(std::uint32_t number, std::uint32_t width, std::uint32_t height)
    : width_(width), height_(height) {
  const std::uint32_t from = colour_of(number, 0x9E3779B1);
  const std::uint32_t to = colour_of(number, 0x85EBCA6B);
  // (A 1 x 1 picture has one step only; 1 keeps us from dividing by 0.)
  const std::uint32_t last_step = std::max(width + height - 2, 1u);
  strip_.resize(std::size_t{last_step + 1} * 3);
  char* byte = strip_.data();
  for (std::uint32_t step = 0; step <= last_step; ++step) {
    for (const int shift : {0, 8, 16}) {  // blue, green, red
      const std::uint32_t a = (from >> shift) & 0xFF;
      const std::uint32_t b = (to >> shift) & 0xFF;
      *byte++ = static_cast<char>((a * (last_step - step) + b * step) / last_step);
    }
  }
}

std::string Bitmap::header() const {
  const std::uint32_t pixels_size = row_size() * height_;
  std::string header;
  header += "BM";  // the file header
  append_number(header, header_size + pixels_size, 4);
  append_number(header, 0, 4);            // reserved
  append_number(header, header_size, 4);  // where the pixels start
  append_number(header, 40, 4);           // the info header: its own size, then
  append_number(header, width_, 4);       // the width,
  append_number(header, height_, 4);      // the height (positive: bottom row first),
  append_number(header, 1, 2);            // one plane,
  append_number(header, 24, 2);           // 24 bits per pixel (blue, green, red),
  append_number(header, 0, 4);            // no compression,
  append_number(header, pixels_size, 4);
  append_number(header, 2835, 4);  // 72 dots per inch, across
  append_number(header, 2835, 4);  // and down;
  append_number(header, 0, 4);     // no palette.
  append_number(header, 0, 4);
  return header;
}

std::string Bitmap::rows(std::uint32_t first, std::uint32_t count) const {
  std::string rows;
  for (std::uint32_t y = first; y < height_ && y - first < count; ++y) {
    rows.append(strip_, y * 3, width_ * 3);
    rows.append(row_size() - width_ * 3, '\0');
  }
  return rows;
}

}  // namespace lesson6
