// The command line as a user meets it: mistakes get a message that names the mistake (and the option
// that was probably meant), and --help, the man page, the README and the completion agree.

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "tests/support/mpexec_process.h"
#include "tests/support/temp_dir.h"

namespace mpexec {
namespace {

using test::runMpexec;

bool has(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

class CommandLineTest : public ::testing::Test {
 protected:
  std::string manifest() { return dir_.write("m.json", R"({"version": 1, "tests": [{"name": "t", "cmd": ["/bin/true"]}]})"); }
  test::TempDir dir_;
};

TEST_F(CommandLineTest, AMistypedOptionSuggestsTheRightOneAndLeavesTheManifestAlone) {
  auto m = manifest();
  for (const std::vector<std::string>& args : {std::vector<std::string>{"--fliter", "x", m},
                                               std::vector<std::string>{"--fliter=x", m},
                                               std::vector<std::string>{m, "--fliter", "x"}}) {
    auto r = runMpexec(args);
    EXPECT_EQ(r.exit_code, 2) << r.out;
    EXPECT_TRUE(has(r.out, "unknown option '--fliter'; did you mean '--filter'?")) << r.out;
    EXPECT_FALSE(has(r.out, "m.json")) << "the manifest is not the problem:\n" << r.out;
  }
  auto far = runMpexec({"--frobnicate", m});
  EXPECT_EQ(far.exit_code, 2);
  EXPECT_TRUE(has(far.out, "unknown option '--frobnicate' (see mpexec --help)")) << far.out;
}

TEST_F(CommandLineTest, ASecondManifestOrNoneIsNamed) {
  auto m = manifest();
  auto two = runMpexec({m, m});
  EXPECT_EQ(two.exit_code, 2);
  EXPECT_TRUE(has(two.out, "unexpected argument")) << two.out;
  auto none = runMpexec({"-j", "2"});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_TRUE(has(none.out, "no MANIFEST given")) << none.out;
  auto typo = runMpexec({"improt", "ctest", "build"});
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_TRUE(has(typo.out, "did you mean 'mpexec import'?")) << typo.out;
}

TEST_F(CommandLineTest, HelpNamesTheSubtoolsAndTheExitCodes) {
  auto r = runMpexec({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* word : {"mpexec import", "mpexec merge", "mpexec sync", "Exit codes:", "130 interrupted"})
    EXPECT_TRUE(has(r.out, word)) << word << " missing from --help:\n" << r.out;
}

TEST_F(CommandLineTest, AnUnknownImporterIsCalledSoAndTheKnownOnesAreListed) {
  auto r = runMpexec({"import", "frobtest"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(has(r.out, "unknown importer 'frobtest'")) << r.out;
  EXPECT_TRUE(has(r.out, "the importers are: gtest, ctest, pytest, unittest")) << r.out;
  auto typo = runMpexec({"import", "gtets"});
  EXPECT_TRUE(has(typo.out, "did you mean 'gtest'?")) << typo.out;
}

// An empty selection exits 4, says which step of the selection left nothing, and still writes its report.
TEST_F(CommandLineTest, AnEmptySelectionExitsFourAndSaysWhichStepLeftNothing) {
  auto m = dir_.write("m.json", R"({"version": 1, "tests": [
    {"name": "alpha", "cmd": ["/bin/true"], "labels": ["fast"]}, {"name": "beta", "cmd": ["/bin/true"]}]})");
  const std::string state = dir_.path() + "/state", report = dir_.path() + "/r.json";
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--no-sandbox", "--state-dir", state, "--json", report});
    args.push_back(m);
    return runMpexec(args);
  };
  struct Case {
    std::vector<std::string> args;
    std::string why;
  };
  for (const Case& c : {Case{{"--filter", "gamma"}, "--filter 'gamma' matches none of the manifest's tests (2)"},
                        Case{{"--exclude", "a"}, "--exclude 'a' leaves out all 2 tests"},
                        Case{{"--filter", "alpha", "--exclude", "ph"}, "--exclude 'ph' leaves out the 1 test that --filter kept"},
                        Case{{"-L", "slow"}, "--label 'slow' matches the labels of none of the 2 tests left"},
                        Case{{"-L", "fast", "--exclude-label", "f"}, "--exclude-label 'f' leaves out the 1 test left"},
                        Case{{"--rerun-failed"}, "--rerun-failed: none of the 2 tests selected failed when it last ran"}}) {
    auto r = run(c.args);
    EXPECT_EQ(r.exit_code, 4) << r.out;
    EXPECT_TRUE(has(r.out, "no tests to run: " + c.why)) << r.out;
    auto rep = test::readJson(report);
    EXPECT_EQ(rep.at("run").as_object().at("exit_code").to_number<int>(), 4);
  }
  // A shard with no unit: two tests over eight shards leave at least six shards empty.
  int empty_shards = 0;
  for (int k = 1; k <= 8; ++k) {
    auto r = run({"--shard", std::to_string(k) + "/8"});
    if (r.exit_code == 0) continue;
    ++empty_shards;
    EXPECT_EQ(r.exit_code, 4) << r.out;
    EXPECT_TRUE(has(r.out, "shard " + std::to_string(k) + "/8 got none of the selected tests' units (2)")) << r.out;
  }
  EXPECT_GE(empty_shards, 6);

  auto warn = run({"--no-tests=warn", "--filter", "gamma"});
  EXPECT_EQ(warn.exit_code, 0) << warn.out;
  EXPECT_TRUE(has(warn.out, "warning: no tests to run: --filter 'gamma'")) << warn.out;
  auto pass = run({"--no-tests", "pass", "--filter", "gamma"});
  EXPECT_EQ(pass.exit_code, 0) << pass.out;
  EXPECT_FALSE(has(pass.out, "no tests to run")) << pass.out;

  auto none = runMpexec({"--no-sandbox", "--state-dir", state, dir_.write("none.json", R"({"version": 1, "tests": []})")});
  EXPECT_EQ(none.exit_code, 4) << none.out;
  EXPECT_TRUE(has(none.out, "none.json has no tests")) << none.out;
  // What does run is not affected.
  EXPECT_EQ(run({"--filter", "alpha"}).exit_code, 0);
}

}  // namespace
}  // namespace mpexec
