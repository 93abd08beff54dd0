// A sample for the tests of scripts/pages.py: each kind of definition the tool
// finds by name, and braces where a careless scanner would count them.

#include <string>

namespace shapes {

// The brace characters, in every place where a brace is not code.
constexpr char opening = '{';
const std::string closing_text = "}}";  // a comment with a brace: {
/* A block comment with a brace: } */

// A square: one side.
struct Square {
  double side;
};

// Has a member function defined inside, two outside, and a constructor.
class Canvas {
 public:
  explicit Canvas(int width) : width_{width}, name_("canvas {") {}

  // Defined inside the class.
  int width() const { return width_; }

  void draw(const Square& square);
  void draw(int x, int y);

 private:
  int width_;
  std::string name_;
};

// Draws a square, braces in literals and all.
void Canvas::draw(const Square& square) {
  const std::string text = R"(raw { text)";
  if (square.side > 0) {
    name_ += '}';
  }
}

void Canvas::draw(int x, int y) {
  width_ = x + y;
}

template <typename T>
concept Shape = requires(T shape) {
  shape.side;
};

enum class Colour { red, green };

using Size = int;

}  // namespace shapes

int main() {
  shapes::Canvas canvas(3);
  const int width = canvas.width();
  return width == 3 ? 0 : 1;
}
