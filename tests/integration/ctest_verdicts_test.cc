// CTest's output-based verdicts through `mpexec import ctest`: a generated CMake project whose tests use
// PASS_REGULAR_EXPRESSION, FAIL_REGULAR_EXPRESSION, SKIP_REGULAR_EXPRESSION, SKIP_RETURN_CODE and WILL_FAIL
// alone and together, and CTest's regular expression syntax where it differs from the usual ones, gets
// ctest's own verdict on every test, with and without the sandbox.

#include <map>
#include <regex>
#include <string>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "tests/support/mpexec_process.h"
#include "tests/support/temp_dir.h"

namespace mpexec {
namespace {

namespace json = boost::json;
using test::readJson;
using test::runMpexec;
using test::shell;

// Each test names what it checks; the comment says ctest's verdict. Quoting is CMake's: "\\" is one
// backslash, "\n" a newline in the shell's printf.
constexpr const char* kCMakeLists = R"cmake(cmake_minimum_required(VERSION 3.16)
project(verdicts NONE)
enable_testing()
function(t name script)
  add_test(NAME ${name} COMMAND sh -c "${script}")
endfunction()

t(pass_re_exit0 "echo All tests passed")  # pass
set_tests_properties(pass_re_exit0 PROPERTIES PASS_REGULAR_EXPRESSION "All tests passed")
t(pass_re_exit3 "echo All tests passed; exit 3")  # pass
set_tests_properties(pass_re_exit3 PROPERTIES PASS_REGULAR_EXPRESSION "All tests passed")
t(pass_re_missing "echo nothing")  # fail
set_tests_properties(pass_re_missing PROPERTIES PASS_REGULAR_EXPRESSION "passed")
t(pass_re_second "echo two")  # pass
set_tests_properties(pass_re_second PROPERTIES PASS_REGULAR_EXPRESSION "one;two")
t(pass_re_none_of_two "echo three")  # fail
set_tests_properties(pass_re_none_of_two PROPERTIES PASS_REGULAR_EXPRESSION "one;two")
t(fail_re_exit0 "echo 'ERROR: bad'")  # fail
set_tests_properties(fail_re_exit0 PROPERTIES FAIL_REGULAR_EXPRESSION "ERROR")
t(fail_re_quiet "echo fine")  # pass
set_tests_properties(fail_re_quiet PROPERTIES FAIL_REGULAR_EXPRESSION "ERROR")
t(fail_re_exit1 "echo fine; exit 1")  # fail
set_tests_properties(fail_re_exit1 PROPERTIES FAIL_REGULAR_EXPRESSION "ERROR")
t(fail_re_second "echo Segmentation")  # fail
set_tests_properties(fail_re_second PROPERTIES FAIL_REGULAR_EXPRESSION "ERROR;Segm")
t(pass_and_fail_re "echo passed ERROR")  # fail
set_tests_properties(pass_and_fail_re PROPERTIES PASS_REGULAR_EXPRESSION "passed" FAIL_REGULAR_EXPRESSION "ERROR")
t(skip_re_exit1 "echo SKIPPED; exit 1")  # skip
set_tests_properties(skip_re_exit1 PROPERTIES SKIP_REGULAR_EXPRESSION "SKIPPED")
t(skip_re_exit0 "echo SKIPPED")  # skip
set_tests_properties(skip_re_exit0 PROPERTIES SKIP_REGULAR_EXPRESSION "SKIPPED")
t(skip_re_quiet "echo ran; exit 2")  # fail
set_tests_properties(skip_re_quiet PROPERTIES SKIP_REGULAR_EXPRESSION "SKIPPED")
t(skip_and_fail_re "echo SKIPPED ERROR")  # skip
set_tests_properties(skip_and_fail_re PROPERTIES SKIP_REGULAR_EXPRESSION "SKIPPED" FAIL_REGULAR_EXPRESSION "ERROR")
t(skip_re_no_pass_re "echo SKIPPED")  # skip
set_tests_properties(skip_re_no_pass_re PROPERTIES SKIP_REGULAR_EXPRESSION "SKIPPED" PASS_REGULAR_EXPRESSION "passed")
t(skip_rc "exit 4")  # skip
set_tests_properties(skip_rc PROPERTIES SKIP_RETURN_CODE 4)
t(skip_rc_fail_re "echo ERROR; exit 4")  # skip
set_tests_properties(skip_rc_fail_re PROPERTIES SKIP_RETURN_CODE 4 FAIL_REGULAR_EXPRESSION "ERROR")
t(skip_rc_other "exit 5")  # fail
set_tests_properties(skip_rc_other PROPERTIES SKIP_RETURN_CODE 4)
t(skip_rc_zero "exit 0")  # skip
set_tests_properties(skip_rc_zero PROPERTIES SKIP_RETURN_CODE 0)
t(exit77 "exit 77")  # fail
t(will_fail_exit1 "exit 1")  # pass
set_tests_properties(will_fail_exit1 PROPERTIES WILL_FAIL ON)
t(will_fail_exit0 "exit 0")  # fail
set_tests_properties(will_fail_exit0 PROPERTIES WILL_FAIL ON)
t(will_fail_pass_re_found "echo ok")  # fail
set_tests_properties(will_fail_pass_re_found PROPERTIES WILL_FAIL ON PASS_REGULAR_EXPRESSION "ok")
t(will_fail_pass_re_missing "echo no; exit 0")  # pass
set_tests_properties(will_fail_pass_re_missing PROPERTIES WILL_FAIL ON PASS_REGULAR_EXPRESSION "yes")
t(will_fail_fail_re "echo ERROR")  # pass
set_tests_properties(will_fail_fail_re PROPERTIES WILL_FAIL ON FAIL_REGULAR_EXPRESSION "ERROR")
t(will_fail_fail_re_quiet "exit 1")  # pass
set_tests_properties(will_fail_fail_re_quiet PROPERTIES WILL_FAIL ON FAIL_REGULAR_EXPRESSION "ERROR")
t(will_fail_skip_rc "exit 4")  # skip
set_tests_properties(will_fail_skip_rc PROPERTIES WILL_FAIL ON SKIP_RETURN_CODE 4)
t(will_fail_skip_re "echo SKIPPED")  # skip
set_tests_properties(will_fail_skip_re PROPERTIES WILL_FAIL ON SKIP_REGULAR_EXPRESSION "SKIPPED")
t(syntax_backslash_d "echo d")  # pass: \d is d
set_tests_properties(syntax_backslash_d PROPERTIES PASS_REGULAR_EXPRESSION "^\\d")
t(syntax_backslash_d_digit "echo 5")  # fail
set_tests_properties(syntax_backslash_d_digit PROPERTIES PASS_REGULAR_EXPRESSION "\\d")
t(syntax_dot_newline "printf 'a\\nb\\n'")  # pass
set_tests_properties(syntax_dot_newline PROPERTIES PASS_REGULAR_EXPRESSION "a.b")
t(syntax_caret_whole "printf 'x\\nok\\n'")  # fail
set_tests_properties(syntax_caret_whole PROPERTIES PASS_REGULAR_EXPRESSION "^ok")
t(syntax_dollar_after_newline "printf ok")  # fail
set_tests_properties(syntax_dollar_after_newline PROPERTIES PASS_REGULAR_EXPRESSION "ok$")
t(syntax_dollar_dot "printf 'ok\\n'")  # pass
set_tests_properties(syntax_dollar_dot PROPERTIES PASS_REGULAR_EXPRESSION "ok.$")
t(syntax_braces "echo 'x{2}'")  # pass
set_tests_properties(syntax_braces PROPERTIES PASS_REGULAR_EXPRESSION "x{2}")
t(syntax_bracket "echo 'a]b-c'")  # pass
set_tests_properties(syntax_bracket PROPERTIES PASS_REGULAR_EXPRESSION "a[]]b[a-]c")
t(syntax_negated "echo ab")  # fail
set_tests_properties(syntax_negated PROPERTIES PASS_REGULAR_EXPRESSION "a[^a-z]")
t(syntax_alternation "echo cat")  # pass
set_tests_properties(syntax_alternation PROPERTIES PASS_REGULAR_EXPRESSION "^(dog|ca+t)")
t(syntax_ten_groups "echo x")  # ctest < 3.26: fail
set_tests_properties(syntax_ten_groups PROPERTIES PASS_REGULAR_EXPRESSION "((((((((((x))))))))))")
t(output_crlf "printf 'ok\\r\\n'")  # pass: \r dropped
set_tests_properties(output_crlf PROPERTIES PASS_REGULAR_EXPRESSION "ok.$")
t(output_nul "printf 'a\\000b\\n'")  # fail: NUL ends a line
set_tests_properties(output_nul PROPERTIES PASS_REGULAR_EXPRESSION "a.b$")
t(output_nul_line "printf 'a\\000b\\n'")  # pass
set_tests_properties(output_nul_line PROPERTIES PASS_REGULAR_EXPRESSION "^a.b.$")
t(output_stderr "echo All tests passed >&2; exit 1")  # pass
set_tests_properties(output_stderr PROPERTIES PASS_REGULAR_EXPRESSION "All tests passed")
t(output_ctest_tag "echo '<CTestLabel>x</CTestLabel> ok'")  # fail: line dropped
set_tests_properties(output_ctest_tag PROPERTIES PASS_REGULAR_EXPRESSION "ok")
t(broken_pass_re "echo ok")  # fail: never matches
set_tests_properties(broken_pass_re PROPERTIES PASS_REGULAR_EXPRESSION "o**")
t(broken_fail_re "echo ok")  # pass
set_tests_properties(broken_fail_re PROPERTIES FAIL_REGULAR_EXPRESSION "(ok")
t(crash_pass_re "echo ok; kill -SEGV $$")  # fail (exception)
set_tests_properties(crash_pass_re PROPERTIES PASS_REGULAR_EXPRESSION "ok")
t(timeout_pass_re "echo ok; sleep 10")  # fail (timeout)
set_tests_properties(timeout_pass_re PROPERTIES PASS_REGULAR_EXPRESSION "ok" TIMEOUT 1)
t(labelled "echo ok")  # pass
set_tests_properties(labelled PROPERTIES PASS_REGULAR_EXPRESSION "ok" LABELS "regex;fast")
)cmake";

/// pass, fail or skip, per test name.
using Verdicts = std::map<std::string, std::string>;

Verdicts fromReport(const std::string& path) {
  Verdicts v;
  const json::object report = readJson(path);
  for (const auto& t : report.at("tests").as_array()) {
    const auto& o = t.as_object();
    std::string outcome(o.at("outcome").as_string());
    v[std::string(o.at("name").as_string())] = outcome == "PASS" ? "pass" : outcome == "SKIP" ? "skip" : "fail";
  }
  return v;
}

class CtestVerdictsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (shell("command -v cmake >/dev/null && command -v ctest >/dev/null") != 0) {
      skip_ = "cmake or ctest is not installed";
      return;
    }
    dir_ = new test::TempDir();
    dir_->write("src/CMakeLists.txt", kCMakeLists);
    std::string out;
    if (shell("cmake -S '" + path("src") + "' -B '" + path("build") + "'", &out) != 0) skip_ = "cmake failed: " + out;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
  }
  static std::string path(const std::string& name) { return dir_->path() + "/" + name; }

  /// ctest's own verdicts, from its result lines.
  static Verdicts ctestVerdicts() {
    std::string out;
    shell("cd '" + path("build") + "' && ctest -j2", &out);
    Verdicts v;
    std::regex line(R"(Test +#[0-9]+: (\S+) \.*\s*(?:\*\*\*)?(Passed|Failed|Skipped|Not Run|Exception|Timeout))");
    for (std::sregex_iterator it(out.begin(), out.end(), line), end; it != end; ++it) {
      std::string how = (*it)[2];
      v[(*it)[1]] = how == "Passed" ? "pass" : how == "Skipped" ? "skip" : "fail";
    }
    return v;
  }

  /// `mpexec import ctest`: the manifest's path, and what it said on stderr.
  static std::string importManifest(std::string* warnings) {
    std::string manifest = path("m.json");
    int rc = shell("'" + test::mpexecBinary() + "' import ctest '" + path("build") + "' > '" + manifest + "'", warnings);
    EXPECT_EQ(rc, 0) << *warnings;
    return manifest;
  }

  static test::TempDir* dir_;
  static std::string skip_;
};

test::TempDir* CtestVerdictsTest::dir_ = nullptr;
std::string CtestVerdictsTest::skip_;

TEST_F(CtestVerdictsTest, EveryTestGetsCtestsVerdictWithAndWithoutTheSandbox) {
  Verdicts ctest = ctestVerdicts();
  ASSERT_EQ(ctest.size(), 49u);
  // The project's comments, as ctest sees them on this machine (a sample, so that a ctest that judged
  // differently would show here rather than as an agreement).
  EXPECT_EQ(ctest["pass_re_exit3"], "pass");
  EXPECT_EQ(ctest["will_fail_pass_re_found"], "fail");
  EXPECT_EQ(ctest["skip_rc_fail_re"], "skip");
  EXPECT_EQ(ctest["exit77"], "fail");
  EXPECT_EQ(ctest["syntax_backslash_d"], "pass");
  EXPECT_EQ(ctest["output_crlf"], "pass");
  EXPECT_EQ(ctest["output_ctest_tag"], "fail");

  std::string warnings;
  std::string manifest = importManifest(&warnings);
  // The regular expressions are honoured now; the two broken ones are named.
  EXPECT_EQ(warnings.find("not honoured"), std::string::npos) << warnings;
  EXPECT_NE(warnings.find("broken_pass_re: PASS_REGULAR_EXPRESSION \"o**\""), std::string::npos) << warnings;
  EXPECT_NE(warnings.find("broken_fail_re: FAIL_REGULAR_EXPRESSION \"(ok\""), std::string::npos) << warnings;

  for (bool sandboxed : {false, true}) {
    SCOPED_TRACE(sandboxed ? "sandbox" : "no sandbox");
    std::string report = path(sandboxed ? "sandbox.json" : "plain.json");
    std::vector<std::string> args = {"-q", "-j", "2", "--kill-grace", "0.2", "--json", report, manifest};
    if (!sandboxed) args.insert(args.begin(), "--no-sandbox");
    auto r = runMpexec(args);
    if (sandboxed && r.exit_code == 3) GTEST_SKIP() << "no sandbox on this host: " << r.out;
    EXPECT_EQ(r.exit_code, 1) << r.out;
    Verdicts ours = fromReport(report);
    EXPECT_EQ(ours.size(), ctest.size());
    for (const auto& [name, verdict] : ctest) EXPECT_EQ(ours[name], verdict) << name << "\n" << r.out;
  }
}

TEST_F(CtestVerdictsTest, AFailSaysWhichRuleFailedIt) {
  std::string warnings;
  std::string manifest = importManifest(&warnings);
  std::string report = path("reasons.json");
  auto r = runMpexec({"--no-sandbox", "-j", "2", "--kill-grace", "0.2", "--json", report, manifest});
  EXPECT_EQ(r.exit_code, 1);
  auto rep = readJson(report);
  auto reason = [&](const std::string& name) {
    return std::string(test::testEntry(rep, name).at("reason").as_string());
  };
  EXPECT_EQ(reason("pass_re_missing"), "no pass_regex matched the output (\"passed\")");
  EXPECT_EQ(reason("fail_re_exit0"), "fail_regex \"ERROR\" matched: \"ERROR: bad\"");
  EXPECT_EQ(reason("pass_and_fail_re"), "fail_regex \"ERROR\" matched: \"passed ERROR\"");
  EXPECT_EQ(reason("will_fail_pass_re_found"), "expected to fail (will_fail), but pass_regex \"ok\" matched");
  EXPECT_EQ(reason("skip_re_exit1"), "skip_regex \"SKIPPED\" matched: \"SKIPPED\"");
  EXPECT_EQ(reason("will_fail_exit0"), "expected to fail (will_fail), but it exited 0");
  // The terminal line of a FAIL carries the same reason.
  EXPECT_NE(r.out.find("fail_re_exit0 ("), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("fail_regex \"ERROR\" matched: \"ERROR: bad\""), std::string::npos) << r.out;
}

TEST_F(CtestVerdictsTest, ImportedLabelsSelect) {
  std::string warnings;
  std::string manifest = importManifest(&warnings);
  std::string report = path("labels.json");
  auto r = runMpexec({"--no-sandbox", "-q", "-L", "^regex$", "--json", report, manifest});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  Verdicts ours = fromReport(report);
  EXPECT_EQ(ours, (Verdicts{{"labelled", "pass"}}));
  EXPECT_EQ(json::serialize(test::testEntry(readJson(report), "labelled").at("labels")), R"(["fast","regex"])");
}

}  // namespace
}  // namespace mpexec
