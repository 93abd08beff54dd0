// The tests' JSON reader (tests/json.hpp) must reject what is not JSON:
// "the timeline parses" is only worth asserting if a broken file would not.

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "tests/json.hpp"

namespace {

using test_support::parse_json;

TEST(JsonTest, ReadsNestedValuesInTheFilesOrder) {
  const auto value = parse_json(R"( {"b": [1, -2.5e1, true, null], "a": {"s": "x"}} )");
  const auto& members = value.as_object();
  ASSERT_EQ(members.size(), 2u);
  EXPECT_EQ(members[0].first, "b");
  const auto& array = value.at("b").as_array();
  ASSERT_EQ(array.size(), 4u);
  EXPECT_EQ(array[0].as_number(), 1);
  EXPECT_EQ(array[1].as_number(), -25);
  EXPECT_TRUE(array[2].as_bool());
  EXPECT_TRUE(array[3].is_null());
  EXPECT_EQ(value.at("a").at("s").as_string(), "x");
  EXPECT_EQ(value.find("c"), nullptr);
}

TEST(JsonTest, DecodesEveryEscape) {
  EXPECT_EQ(parse_json(R"("\" \\ \/ \b \f \n \r \t \u0041 \u00ff \ud83d\ude00")").as_string(),
            "\" \\ / \b \f \n \r \t A \xc3\xbf \xf0\x9f\x98\x80");
}

TEST(JsonTest, RejectsWhatIsNotJson) {
  for (const std::string text : {"",
                                 "{",
                                 "[1,]",
                                 "{\"a\":1,}",
                                 "{\"a\" 1}",
                                 "[1] [2]",
                                 "{'a':1}",
                                 "\"tab\tinside\"",
                                 "\"unterminated",
                                 "\"\\x\"",
                                 "\"\\ud800\"",
                                 "01",
                                 "1.",
                                 ".5",
                                 "-",
                                 "1e",
                                 "tru",
                                 "nul",
                                 "[1 2]",
                                 "{\"traceEvents\":[\n{\"ph\":\"X\"},\n"}) {
    EXPECT_THROW(parse_json(text), std::runtime_error) << "'" << text << "'";
  }
}

TEST(JsonTest, AnAccessorOfTheWrongTypeThrows) {
  const auto value = parse_json("[1]");
  EXPECT_THROW(value.as_object(), std::runtime_error);
  EXPECT_THROW(value.as_array()[0].as_string(), std::runtime_error);
  EXPECT_THROW(parse_json("{}").at("missing"), std::runtime_error);
}

}  // namespace
