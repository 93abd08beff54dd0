#include "tests/json.hpp"

#include <cstdlib>
#include <stdexcept>

namespace test_support {

namespace {

template <typename T>
const T& get(const auto& value, std::string_view wanted) {
  if (const T* found = std::get_if<T>(&value)) return *found;
  throw std::runtime_error("JSON value is not " + std::string(wanted));
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  JsonValue parse_document() {
    JsonValue value = parse_value();
    skip_whitespace();
    if (position_ != text_.size()) fail("text after the value");
    return value;
  }

 private:
  [[noreturn]] void fail(std::string_view what) const {
    throw std::runtime_error("invalid JSON at byte " + std::to_string(position_) + ": " +
                             std::string(what));
  }

  void skip_whitespace() {
    while (position_ < text_.size() && (text_[position_] == ' ' || text_[position_] == '\t' ||
                                        text_[position_] == '\n' || text_[position_] == '\r')) {
      ++position_;
    }
  }

  char peek() const { return position_ < text_.size() ? text_[position_] : '\0'; }

  bool consume(char wanted) {
    if (peek() != wanted) return false;
    ++position_;
    return true;
  }

  void expect(char wanted) {
    if (!consume(wanted)) fail(std::string("expected '") + wanted + "'");
  }

  bool consume_word(std::string_view word) {
    if (text_.substr(position_, word.size()) != word) return false;
    position_ += word.size();
    return true;
  }

  JsonValue parse_value() {
    skip_whitespace();
    const char c = peek();
    if (c == '{') return parse_object();
    if (c == '[') return parse_array();
    if (c == '"') return JsonValue(parse_string());
    if (consume_word("true")) return JsonValue(true);
    if (consume_word("false")) return JsonValue(false);
    if (consume_word("null")) return JsonValue(nullptr);
    if (c == '-' || (c >= '0' && c <= '9')) return JsonValue(parse_number());
    fail(position_ == text_.size() ? "unexpected end" : "unexpected character");
  }

  // `open`, then items separated by commas (or none), then `close`.
  void parse_list(char open, char close, const auto& parse_item) {
    expect(open);
    skip_whitespace();
    if (consume(close)) return;
    while (true) {
      parse_item();
      skip_whitespace();
      if (consume(close)) return;
      expect(',');
    }
  }

  JsonValue parse_object() {
    JsonValue::Object members;
    parse_list('{', '}', [&] {
      skip_whitespace();
      std::string key = parse_string();
      skip_whitespace();
      expect(':');
      members.emplace_back(std::move(key), parse_value());
    });
    return JsonValue(std::move(members));
  }

  JsonValue parse_array() {
    JsonValue::Array elements;
    parse_list('[', ']', [&] { elements.push_back(parse_value()); });
    return JsonValue(std::move(elements));
  }

  unsigned parse_hex4() {
    if (position_ + 4 > text_.size()) fail("short \\u escape");
    unsigned code = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = text_[position_++];
      code <<= 4;
      if (c >= '0' && c <= '9') {
        code |= static_cast<unsigned>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        code |= static_cast<unsigned>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        code |= static_cast<unsigned>(c - 'A' + 10);
      } else {
        fail("bad \\u escape");
      }
    }
    return code;
  }

  static void append_utf8(std::string& out, unsigned code) {
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xc0 | (code >> 6));
      out += static_cast<char>(0x80 | (code & 0x3f));
    } else if (code < 0x10000) {
      out += static_cast<char>(0xe0 | (code >> 12));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (code & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | (code >> 18));
      out += static_cast<char>(0x80 | ((code >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (code & 0x3f));
    }
  }

  std::string parse_string() {
    expect('"');
    std::string out;
    while (true) {
      if (position_ == text_.size()) fail("unterminated string");
      const char c = text_[position_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (position_ == text_.size()) fail("unterminated escape");
      switch (text_[position_++]) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          unsigned code = parse_hex4();
          if (code >= 0xd800 && code < 0xdc00) {  // a surrogate pair's first half
            if (!consume_word("\\u")) fail("lone surrogate");
            const unsigned low = parse_hex4();
            if (low < 0xdc00 || low >= 0xe000) fail("bad surrogate pair");
            code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
          } else if (code >= 0xdc00 && code < 0xe000) {
            fail("lone surrogate");
          }
          append_utf8(out, code);
          break;
        }
        default:
          fail("bad escape");
      }
    }
  }

  // The grammar is checked here; strtod only converts what passed.
  double parse_number() {
    const std::size_t start = position_;
    const auto digits = [this] {
      const std::size_t first = position_;
      while (peek() >= '0' && peek() <= '9')
        ++position_;
      if (position_ == first) fail("expected a digit");
    };
    if (peek() == '-') ++position_;
    if (peek() == '0') {
      ++position_;
    } else {
      digits();
    }
    if (peek() == '.') {
      ++position_;
      digits();
    }
    if (peek() == 'e' || peek() == 'E') {
      ++position_;
      if (peek() == '+' || peek() == '-') ++position_;
      digits();
    }
    return std::strtod(std::string(text_.substr(start, position_ - start)).c_str(), nullptr);
  }

  std::string_view text_;
  std::size_t position_ = 0;
};

}  // namespace

bool JsonValue::as_bool() const {
  return get<bool>(value_, "a boolean");
}

double JsonValue::as_number() const {
  return get<double>(value_, "a number");
}

const std::string& JsonValue::as_string() const {
  return get<std::string>(value_, "a string");
}

const JsonValue::Array& JsonValue::as_array() const {
  return get<Array>(value_, "an array");
}

const JsonValue::Object& JsonValue::as_object() const {
  return get<Object>(value_, "an object");
}

const JsonValue* JsonValue::find(std::string_view key) const {
  for (const auto& [name, value] : as_object()) {
    if (name == key) return &value;
  }
  return nullptr;
}

const JsonValue& JsonValue::at(std::string_view key) const {
  if (const JsonValue* value = find(key)) return *value;
  throw std::runtime_error("JSON object has no member '" + std::string(key) + "'");
}

JsonValue parse_json(std::string_view text) {
  return Parser(text).parse_document();
}

}  // namespace test_support
