#include "sync-service/strict_json.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

namespace mpexec::sync {
namespace {

namespace json = boost::json;
using namespace std::string_literals;

std::string refusal(const std::string& text) {
  json::value v;
  std::string error;
  EXPECT_FALSE(parseStrictJson(text, &v, &error)) << text << " was accepted";
  return error;
}

TEST(StrictJsonTest, AcceptsWhatComesBackOutTheSame) {
  for (const char* text : {R"({"value": {"a": [1, -2, 3.5, 1e300, -9223372036854775808, 18446744073709551615]}})",
                           R"("\u00e9\ud83d\ude00")", "[]", "null", R"({"a": {"a": 1}})", "0.000001e-300", "\n {\"value\": 1} \r\n\t "}) {
    json::value v;
    std::string error;
    EXPECT_TRUE(parseStrictJson(text, &v, &error)) << text << ": " << error;
    EXPECT_EQ(json::parse(json::serialize(v)), v) << text;
  }
}

TEST(StrictJsonTest, RefusesNumbersThatDoNotSurvive) {
  EXPECT_EQ(refusal(R"({"value": 1e400})"), "at value: the number 1e400 is beyond the range of a double");
  EXPECT_EQ(refusal(R"({"value": {"x": [0, -1E999]}})"), "at value.x[1]: the number -1E999 is beyond the range of a double");
  EXPECT_EQ(refusal(R"({"value": 18446744073709551616})"), "at value: the integer 18446744073709551616 does not fit in 64 bits");
  EXPECT_EQ(refusal("[-9223372036854775809]"), "at [0]: the integer -9223372036854775809 does not fit in 64 bits");
  EXPECT_EQ(refusal("123456789012345678901234567890"), "at the top level: the integer 123456789012345678901234567890 does not fit in 64 bits");
}

TEST(StrictJsonTest, RefusesDuplicateKeysDeepNestingAndInvalidUtf8) {
  EXPECT_EQ(refusal(R"({"value": 1, "value": 2})"), "at value: the key appears twice in one object");
  EXPECT_EQ(refusal(R"({"value": {"a": {"b": 1, "b": 1}}})"), "at value.a.b: the key appears twice in one object");
  std::string deep = std::string(32, '[') + std::string(32, ']');
  json::value v;
  std::string error;
  EXPECT_TRUE(parseStrictJson(deep, &v, &error)) << error;
  EXPECT_EQ(refusal("[" + deep + "]"), "at [0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]: arrays and objects nest deeper than 32 levels");
  EXPECT_EQ(refusal("\"ab\xff\""), "invalid UTF-8 at byte 3");
  EXPECT_EQ(refusal(R"("\ud800")"), "syntax error at byte 7") << "a lone surrogate";
  EXPECT_EQ(refusal("{\"value\": 1"), "incomplete JSON at byte 11");
  EXPECT_EQ(refusal("{\"value\": NaN}").find("syntax error"), 0u);
  EXPECT_EQ(refusal("1 2"), "extra data at byte 2");
}

// What the board stores: the text without insignificant whitespace, numbers with their own digits, strings
// with JSON's escapes only where JSON needs them, and where each value of the top-level object is.
TEST(StrictJsonTest, CompactTextIsTheSameJsonWithoutWhitespace) {
  std::string text = " {\n \"value\" : [ 1.50 , -0, 1E3, \"\\u00e9\\n\\\"\\/\", {\"a\" : null} ] ,\t\"ok\": true } ";
  std::string out, error;
  std::vector<JsonMember> members;
  ASSERT_TRUE(compactStrictJson(text, &out, &members, &error)) << error;
  EXPECT_EQ(out, "{\"value\":[1.50,-0,1E3,\"\u00e9\\n\\\"/\",{\"a\":null}],\"ok\":true}");
  ASSERT_EQ(members.size(), 2u);
  EXPECT_EQ(members[0].key, "value");
  EXPECT_EQ(out.substr(members[0].begin, members[0].end - members[0].begin), "[1.50,-0,1E3,\"\u00e9\\n\\\"/\",{\"a\":null}]");
  EXPECT_EQ(members[1].key, "ok");
  EXPECT_EQ(out.substr(members[1].begin, members[1].end - members[1].begin), "true");
  EXPECT_EQ(json::parse(out), json::parse(text));
  std::string control;
  ASSERT_TRUE(compactStrictJson("\"\\u0001\\t\"", &control, nullptr, &error)) << error;
  EXPECT_EQ(control, "\"\\u0001\\t\"");
  EXPECT_FALSE(compactStrictJson(R"({"value": 1e400})", &out, &members, &error));
  EXPECT_EQ(error, "at value: the number 1e400 is beyond the range of a double");
}

TEST(StrictJsonTest, Utf8SafeKeepsUtf8AndEscapesTheRest) {
  EXPECT_EQ(utf8Safe("abc/é😀"), "abc/é😀");
  EXPECT_EQ(utf8Safe("\xff\xfe"), "%FF%FE");
  EXPECT_EQ(utf8Safe("a\xc3"), "a%C3") << "a sequence cut short";
  EXPECT_EQ(utf8Safe("\xed\xa0\x80"), "%ED%A0%80") << "a surrogate";
  EXPECT_EQ(utf8Safe("\xc0\xaf"), "%C0%AF") << "an overlong form";
  EXPECT_EQ(utf8Safe("\xf4\x90\x80\x80"), "%F4%90%80%80") << "beyond U+10FFFF";
  EXPECT_EQ(utf8Safe("x\0y"s), "x\0y"s) << "NUL is UTF-8; JSON escapes it";
}

}  // namespace
}  // namespace mpexec::sync
