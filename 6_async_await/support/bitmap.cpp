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

std::string make_bitmap(std::uint32_t number, std::uint32_t width, std::uint32_t height) {
  const std::uint32_t row_size = (width * 3 + 3) / 4 * 4;  // rows are padded to 4 bytes
  const std::uint32_t pixels_size = row_size * height;
  const std::uint32_t headers_size = 14 + 40;
  std::string bitmap;
  bitmap.reserve(headers_size + pixels_size);

  bitmap += "BM";  // the file header
  append_number(bitmap, headers_size + pixels_size, 4);
  append_number(bitmap, 0, 4);             // reserved
  append_number(bitmap, headers_size, 4);  // where the pixels start
  append_number(bitmap, 40, 4);            // the info header: its own size, then
  append_number(bitmap, width, 4);         // the width,
  append_number(bitmap, height, 4);        // the height (positive: bottom row first),
  append_number(bitmap, 1, 2);             // one plane,
  append_number(bitmap, 24, 2);            // 24 bits per pixel (blue, green, red),
  append_number(bitmap, 0, 4);             // no compression,
  append_number(bitmap, pixels_size, 4);
  append_number(bitmap, 2835, 4);  // 72 dots per inch, across
  append_number(bitmap, 2835, 4);  // and down;
  append_number(bitmap, 0, 4);     // no palette.
  append_number(bitmap, 0, 4);

  const std::uint32_t from = colour_of(number, 0x9E3779B1);
  const std::uint32_t to = colour_of(number, 0x85EBCA6B);
  // Pixel (x, y) gets step x + y of the blend, so every row is a slice of one
  // strip of steps, starting one pixel further along than the row below.
  // (A 1 x 1 picture has one step only; 1 keeps us from dividing by 0.)
  const std::uint32_t last_step = std::max(width + height - 2, 1u);
  std::string strip;
  for (std::uint32_t step = 0; step <= last_step; ++step) {
    for (const int shift : {0, 8, 16}) {  // blue, green, red
      const std::uint32_t a = (from >> shift) & 0xFF;
      const std::uint32_t b = (to >> shift) & 0xFF;
      strip += static_cast<char>((a * (last_step - step) + b * step) / last_step);
    }
  }
  for (std::uint32_t y = 0; y < height; ++y) {
    bitmap.append(strip, y * 3, width * 3);
    bitmap.append(row_size - width * 3, '\0');
  }
  return bitmap;
}

}  // namespace lesson6
