// The pictures image_server serves: 24-bit BMP, the simplest format every
// viewer opens, and one a few lines of code can write.
#pragma once

#include <cstdint>
#include <string>

namespace lesson6 {

// A 320x240 picture, a diagonal blend between two colours chosen by
// `number`: the first 16 million numbers all give different pictures.
std::string make_bitmap(std::uint32_t number);

}  // namespace lesson6
