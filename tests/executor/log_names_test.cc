// Test log file names: what is unsafe replaced, collisions suffixed, retries apart from every first attempt.

#include "executor/log_names.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/support/manifest_builder.h"

namespace mpexec {
namespace {

LogNames namesOf(const std::vector<std::string>& tests, Manifest& m) {
  for (const auto& t : tests) test::addTest(m, t);
  return LogNames(m);
}

TEST(LogNamesTest, AnythingButLettersDigitsDotDashUnderscoreBecomesUnderscore) {
  Manifest m;
  LogNames names = namesOf({"suite/case one", "a:b*c?", "ok-1.2_x", "\xc3\xa9t\xc3\xa9"}, m);
  EXPECT_EQ(names.name(0), "suite_case_one.log");
  EXPECT_EQ(names.name(1), "a_b_c_.log");
  EXPECT_EQ(names.name(2), "ok-1.2_x.log");
  EXPECT_EQ(names.name(3), "__t__.log");
}

TEST(LogNamesTest, ANameNeverStartsWithADotNorIsEmpty) {
  Manifest m;
  LogNames names = namesOf({".hidden", "..", ""}, m);
  EXPECT_EQ(names.name(0), "_.hidden.log");
  EXPECT_EQ(names.name(1), "_...log");
  EXPECT_EQ(names.name(2), "_.log");
}

TEST(LogNamesTest, LongNamesAreCutTo200Bytes) {
  Manifest m;
  LogNames names = namesOf({std::string(300, 'x')}, m);
  EXPECT_EQ(names.name(0), std::string(200, 'x') + ".log");
}

TEST(LogNamesTest, NamesThatCollideAfterReplacingGetSuffixesInManifestOrder) {
  Manifest m;
  LogNames names = namesOf({"a b", "a_b", "a/b", "c"}, m);
  EXPECT_EQ(names.name(0), "a_b.log");
  EXPECT_EQ(names.name(1), "a_b~2.log");
  EXPECT_EQ(names.name(2), "a_b~3.log");
  EXPECT_EQ(names.name(3), "c.log");
}

TEST(LogNamesTest, RetriesAreNamedAfterTheFirstAttempt) {
  Manifest m;
  LogNames names = namesOf({"t", "t "}, m);
  EXPECT_EQ(names.name(0, 1), "t.log");
  EXPECT_EQ(names.name(0, 0), "t.log");
  EXPECT_EQ(names.name(0, 2), "t~attempt2.log");
  EXPECT_EQ(names.name(1, 3), "t_~attempt3.log");
}

TEST(LogNamesTest, NoTestNameTakesARetrysOrAFixturesLog) {
  // '~' only ever comes from the suffixes: a test called like another's retry or a group's setup log is
  // kept apart from it.
  Manifest m;
  LogNames names = namesOf({"t", "t~attempt2", "u1~setup"}, m);
  EXPECT_EQ(names.name(1), "t_attempt2.log");
  EXPECT_NE(names.name(1), names.name(0, 2));
  EXPECT_EQ(names.name(2), "u1_setup.log");
}

}  // namespace
}  // namespace mpexec
