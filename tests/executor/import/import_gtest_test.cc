#include "executor/import/import_gtest.h"

#include <gtest/gtest.h>

#include <filesystem>

#include <boost/json.hpp>

#include "executor/manifest.h"
#include "tests/support/temp_dir.h"

namespace mpexec {
namespace {

namespace json = boost::json;

// A stand-in for a gtest binary: prints a listing for --gtest_list_tests.
std::string fakeGtest(const test::TempDir& dir, const std::string& name, const std::string& listing) {
  return dir.write(name, "#!/bin/sh\n[ \"$1\" = --gtest_list_tests ] || exit 3\ncat <<'EOF'\n" + listing + "EOF\n", true);
}

TEST(ImportGtestTest, OneTestPerEnabledCaseWithItsFilter) {
  test::TempDir dir;
  std::string bin = fakeGtest(dir, "unit_tests",
                              "Running main() from gtest_main.cc\n"
                              "Math.\n  Add\n  DISABLED_Sub\n"
                              "Typed/0.  # TypeParam = int\n  Works\n");
  auto r = importGtest({bin});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_TRUE(r->warnings.empty());
  auto v = json::parse(r->manifest).as_object();
  EXPECT_EQ(v.at("tests"), json::parse(R"([
    {"name": "unit_tests.Math.Add", "cmd": [")" + bin + R"(", "--gtest_filter=Math.Add"]},
    {"name": "unit_tests.Typed/0.Works", "cmd": [")" + bin + R"(", "--gtest_filter=Typed/0.Works"]}])"));

  // The same tests the manifest's own {"gtest": BIN} expansion gives.
  auto imported = parseManifest(r->manifest, dir.path() + "/a.json");
  auto expanded = parseManifest(R"({"version": 1, "tests": [{"gtest": ")" + bin + R"("}]})", dir.path() + "/b.json");
  ASSERT_TRUE(imported.ok() && expanded.ok());
  ASSERT_EQ(imported->tests.size(), expanded->tests.size());
  for (size_t i = 0; i < imported->tests.size(); ++i) {
    EXPECT_EQ(imported->tests[i].name, expanded->tests[i].name);
    EXPECT_EQ(imported->tests[i].cmd, expanded->tests[i].cmd);
  }
}

TEST(ImportGtestTest, RelativeBinariesBecomeAbsolute) {
  test::TempDir dir;
  fakeGtest(dir, "t", "S.\n  c\n");
  std::string old = std::filesystem::current_path();
  std::filesystem::current_path(dir.path());
  auto r = importGtest({"./t"});
  std::filesystem::current_path(old);
  ASSERT_TRUE(r.ok());
  EXPECT_NE(r->manifest.find("\"" + dir.path() + "/t\""), std::string::npos) << r->manifest;
}

TEST(ImportGtestTest, ABinaryThatCannotBeListedStaysAsAGtestEntry) {
  test::TempDir dir;
  std::string bad = dir.write("broken", "#!/bin/sh\necho boom >&2\nexit 1\n", true);
  auto r = importGtest({bad});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_NE(r->warnings[0].find("boom"), std::string::npos) << r->warnings[0];
  EXPECT_EQ(json::parse(r->manifest).at("tests"), json::parse(R"([{"gtest": ")" + bad + R"("}])"));
}

// A binary's file name starts its tests' names: control characters or bytes a manifest cannot hold are
// refused, and so is a listing whose names have them.
TEST(ImportGtestTest, NamesWithControlCharactersOrInvalidUtf8AreRefused) {
  test::TempDir dir;
  std::string esc = fakeGtest(dir, "red\x1b[31m", "S.\n  c\n");
  auto r = importGtest({esc});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), dir.path() + "/red\\x1b[31m: a binary's path must be UTF-8, and its file name not empty "
                                              "and without control characters, to give test names");
  EXPECT_FALSE(importGtest({fakeGtest(dir, "caf\xe9", "S.\n  c\n")}).ok());
  auto listed = importGtest({fakeGtest(dir, "bell", "S.\n  a\x07\n")});
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->warnings.size(), 1u);
  EXPECT_NE(listed->warnings[0].find("line 2 of the listing names S.a\\x07"), std::string::npos) << listed->warnings[0];
}

TEST(ImportGtestTest, TwoBinariesWithOneBasenameAreRefused) {
  test::TempDir dir;
  std::string a = fakeGtest(dir, "x/t", "S.\n  c\n");
  std::string b = fakeGtest(dir, "y/t", "S.\n  c\n");
  auto r = importGtest({a, b});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("basename"), std::string::npos);
}

}  // namespace
}  // namespace mpexec
