// The command line as a user meets it: mistakes get a message that names the mistake (and the option
// that was probably meant), and --help, the man page, the README and the completion agree.

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

}  // namespace
}  // namespace mpexec
