// A small, strict JSON reader (RFC 8259) for tests that check files the
// programs write, such as --timeline's. Strict on purpose: what it accepts,
// Perfetto's UI and chrome://tracing accept too.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace test_support {

class JsonValue {
 public:
  using Array = std::vector<JsonValue>;
  using Object = std::vector<std::pair<std::string, JsonValue>>;  // in the file's order

  JsonValue() = default;
  explicit JsonValue(std::nullptr_t) {}
  explicit JsonValue(bool value) : value_(value) {}
  explicit JsonValue(double value) : value_(value) {}
  explicit JsonValue(std::string value) : value_(std::move(value)) {}
  explicit JsonValue(Array value) : value_(std::move(value)) {}
  explicit JsonValue(Object value) : value_(std::move(value)) {}

  bool is_null() const { return std::holds_alternative<std::nullptr_t>(value_); }
  // Each accessor throws std::runtime_error when the value is of another type.
  bool as_bool() const;
  double as_number() const;
  const std::string& as_string() const;
  const Array& as_array() const;
  const Object& as_object() const;

  // The member named `key` of an object; throws std::runtime_error when there
  // is none. find() returns null instead.
  const JsonValue& at(std::string_view key) const;
  const JsonValue* find(std::string_view key) const;

 private:
  std::variant<std::nullptr_t, bool, double, std::string, Array, Object> value_;
};

// Throws std::runtime_error, saying where, if `text` is not one JSON value
// (surrounded by whitespace at most).
JsonValue parse_json(std::string_view text);

}  // namespace test_support
