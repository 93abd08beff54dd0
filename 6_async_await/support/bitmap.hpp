// The pictures image_server serves: 24-bit BMP, the simplest format every
// viewer opens, and one a few lines of code can write.
#pragma once

#include <cstdint>
#include <string>

namespace lesson6 {

// The largest width and height make_bitmap() takes: a picture is built whole
// in memory (3 MiB at most) before it is sent.
constexpr std::uint32_t max_picture_side = 1024;

// A width x height picture (each 1 to max_picture_side), a diagonal blend
// between two colours chosen by `number`. Its first pixel has the first of
// those colours, and the first 16 million numbers all give a different one:
// no two pictures are alike, whatever their sizes.
std::string make_bitmap(std::uint32_t number, std::uint32_t width, std::uint32_t height);

}  // namespace lesson6
