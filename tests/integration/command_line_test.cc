// The command line as a user meets it: mistakes get a message that names the mistake (and the option
// that was probably meant), and --help, the man page, the README and the completion agree.

#include <algorithm>
#include <filesystem>
#include <regex>
#include <set>

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

// -q and -v say opposite things: which one was meant is the user's to say, not a silent precedence.
TEST_F(CommandLineTest, QuietAndVerboseTogetherAreRefused) {
  auto m = manifest();
  auto r = runMpexec({"--no-sandbox", "-q", "-v", m});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_TRUE(has(r.out, "-q and -v exclude each other")) << r.out;
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

/// The source tree (for the README, the man page and the completion): $MPEXEC_SOURCE_DIR, or the current
/// directory when it is one; empty otherwise.
std::string sourceDir() {
  for (std::string root : {std::string(getenv("MPEXEC_SOURCE_DIR") ? getenv("MPEXEC_SOURCE_DIR") : ""), std::string(".")})
    if (!root.empty() && std::filesystem::exists(root + "/packaging/mpexec.1")) return root;
  return "";
}

// Every option --help lists is in the README, the man page and the bash completion, and every option
// those name is one --help lists: they say the same.
TEST_F(CommandLineTest, HelpManPageReadmeAndCompletionNameTheSameOptions) {
  std::string root = sourceDir();
  if (root.empty()) GTEST_SKIP() << "not run from the source tree (set MPEXEC_SOURCE_DIR)";
  auto help = runMpexec({"--help"});
  ASSERT_EQ(help.exit_code, 0);
  auto options = [](const std::string& text) {
    std::set<std::string> found;
    std::regex opt(R"((^|[\s,|\[(`'])(--[a-z][a-z-]*[a-z]))");
    for (std::sregex_iterator it(text.begin(), text.end(), opt), end; it != end; ++it) found.insert((*it)[2]);
    return found;
  };
  std::set<std::string> from_help = options(help.out);
  ASSERT_GT(from_help.size(), 20u) << help.out;
  std::string man = test::readFile(root + "/packaging/mpexec.1");
  man = std::regex_replace(man, std::regex(R"(\\-)"), "-");
  man = std::regex_replace(man, std::regex(R"(\\f[BIR])"), "");
  // The README's and the man page's option sections; the completion's word list.
  std::string readme = test::readFile(root + "/README.md");
  readme = readme.substr(readme.find("## Running"), readme.find("## The manifest") - readme.find("## Running"));
  std::string man_options = man.substr(man.find(".SH OPTIONS"), man.find(".SH MANIFEST") - man.find(".SH OPTIONS"));
  std::string completion = test::readFile(root + "/packaging/bash-completion/mpexec");
  size_t words = completion.find("if [[ $cur == -* ]]; then\n        COMPREPLY=($(compgen -W '-j");
  ASSERT_NE(words, std::string::npos) << "the completion's option list moved";
  completion = completion.substr(words, completion.find("' -- \"$cur\"))", words) - words);
  for (auto [name, text] : {std::pair<const char*, const std::string*>{"README.md", &readme},
                            {"packaging/mpexec.1", &man_options}, {"the bash completion", &completion}}) {
    std::set<std::string> there = options(*text);
    for (const std::string& o : from_help) EXPECT_TRUE(there.count(o)) << o << " is in --help but not in " << name;
    for (const std::string& o : there) EXPECT_TRUE(from_help.count(o)) << o << " is in " << name << " but not in --help";
  }
}

// The subtools' options too: every option `mpexec sync --help` and `mpexec merge --help` name is one the
// completion offers for that subtool.
TEST_F(CommandLineTest, TheCompletionOffersEverySubtoolOptionItsHelpNames) {
  std::string root = sourceDir();
  if (root.empty()) GTEST_SKIP() << "not run from the source tree (set MPEXEC_SOURCE_DIR)";
  std::string completion = test::readFile(root + "/packaging/bash-completion/mpexec");
  for (const char* subtool : {"sync", "merge"}) {
    auto help = runMpexec({subtool, "--help"});
    ASSERT_EQ(help.exit_code, 0) << help.out;
    size_t from = completion.find(std::string("\n        ") + subtool + ")\n");
    ASSERT_NE(from, std::string::npos) << "no case for " << subtool << " in the completion";
    std::string section = completion.substr(from, completion.find("\n            ;;\n", from) - from);
    std::regex opt(R"((--[a-z][a-z-]*[a-z]))");
    size_t named = 0;
    for (std::sregex_iterator it(help.out.begin(), help.out.end(), opt), end; it != end; ++it, ++named)
      EXPECT_TRUE(has(section, (*it)[1].str())) << (*it)[1] << " is in mpexec " << subtool << " --help but not completed";
    EXPECT_GT(named, 1u) << help.out;
  }
}

// --list=json is the plan as one JSON object a tool can read (the schema of docs/executor.md), and runs
// nothing.
TEST_F(CommandLineTest, ListAsJsonGivesThePlanAndRunsNothing) {
  auto m = dir_.write("m.json", R"({"version": 1,
    "groups": {"db": {"strategy": "isolated_serial", "setup": ["/bin/true"]}},
    "tests": [{"name": "a", "cmd": ["/bin/echo", "a"], "labels": ["fast"], "env": {"K": "v"}},
              {"name": "d1", "cmd": ["/bin/true"], "group": "db"}, {"name": "d2", "cmd": ["/bin/true"], "group": "db"},
              {"name": "b", "cmd": ["/bin/true"], "timeout": 5}]})");
  auto r = runMpexec({"--list=json", "--filter", "a|d|b", m});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  boost::json::object plan = boost::json::parse(r.out).as_object();
  EXPECT_EQ(plan.at("format").as_string(), "mpexec-plan");
  EXPECT_EQ(plan.at("version").as_int64(), 1);
  EXPECT_EQ(plan.at("selection").as_object().at("filter").as_string(), "a|d|b");
  const auto& counts = plan.at("counts").as_object();
  EXPECT_EQ(counts.at("tests").as_int64(), 4);
  EXPECT_EQ(counts.at("units").as_int64(), 3);
  EXPECT_EQ(counts.at("phases").as_int64(), 2);
  EXPECT_TRUE(plan.at("no_tests").is_null());
  // The isolated window first, then the pool; units in the order they would start.
  const auto& phases = plan.at("phases").as_array();
  EXPECT_EQ(phases[0].as_object().at("kind").as_string(), "isolated_serial");
  EXPECT_EQ(phases[0].as_object().at("group").as_string(), "db");
  EXPECT_EQ(phases[1].as_object().at("kind").as_string(), "pool");
  const auto& units = plan.at("units").as_array();
  ASSERT_EQ(units.size(), 3u);
  EXPECT_EQ(units[0].as_object().at("name").as_string(), "db");
  EXPECT_EQ(units[0].as_object().at("tests").as_array().size(), 2u);
  const auto& a = plan.at("tests").as_array()[0].as_object();
  EXPECT_EQ(a.at("name").as_string(), "a");
  EXPECT_EQ(a.at("cmd").as_array()[1].as_string(), "a");
  EXPECT_EQ(a.at("env").as_object().at("K").as_string(), "v");
  EXPECT_EQ(a.at("labels").as_array()[0].as_string(), "fast");
  EXPECT_EQ(plan.at("tests").as_array()[3].as_object().at("timeout").to_number<double>(), 5);
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/.mpexec/runs")) << "--list ran something";

  auto empty = runMpexec({"--list=json", "--filter", "zzz", m});
  EXPECT_EQ(empty.exit_code, 0) << empty.out;
  EXPECT_EQ(std::string(boost::json::parse(empty.out).as_object().at("no_tests").as_string()),
            "--filter 'zzz' matches none of the manifest's tests (4)");
  auto spaced = runMpexec({"--list", "json", m});
  EXPECT_EQ(spaced.exit_code, 2);
  EXPECT_TRUE(has(spaced.out, "--list takes its format after '=': --list=json")) << spaced.out;
  auto json_flag = runMpexec({"--list", "--json", m});
  EXPECT_EQ(json_flag.exit_code, 2);
  EXPECT_TRUE(has(json_flag.out, "for the plan as JSON use --list=json or --list --json -")) << json_flag.out;
}

// `--list --json F` (the spelling nextest and ctest users try) writes the plan as JSON to F, as a run writes
// its report there, and still shows the plan as text; `-` prints the JSON instead. The reports of a run,
// which --list does not make, are warned about rather than silently not written.
TEST_F(CommandLineTest, ListWithJsonWritesThePlanAndSaysTheOtherReportsAreNotWritten) {
  auto m = dir_.write("m.json", R"({"version": 1, "tests": [{"name": "a", "cmd": ["/bin/true"]}, {"name": "b", "cmd": ["/bin/true"]}]})");
  auto to_stdout = runMpexec({"--list", "--json", "-", "--filter", "b", m});
  ASSERT_EQ(to_stdout.exit_code, 0) << to_stdout.out;
  boost::json::object plan = boost::json::parse(to_stdout.out).as_object();
  EXPECT_EQ(plan.at("format").as_string(), "mpexec-plan");
  EXPECT_EQ(plan.at("counts").as_object().at("tests").as_int64(), 1);

  std::string file = dir_.path() + "/plan.json";
  auto to_file = runMpexec({"--list", "--json", file, m});
  ASSERT_EQ(to_file.exit_code, 0) << to_file.out;
  EXPECT_TRUE(has(to_file.out, "pool (2 units)")) << to_file.out;
  ASSERT_TRUE(std::filesystem::exists(file)) << "--list --json FILE wrote no file";
  EXPECT_EQ(boost::json::parse(test::readFile(file)).as_object().at("counts").as_object().at("tests").as_int64(), 2);
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/.mpexec/runs")) << "--list ran something";

  for (const char* report : {"--junit", "--html", "--trace", "--report-dir"}) {
    auto warned = runMpexec({"--list", report, dir_.path() + "/r", m});
    EXPECT_EQ(warned.exit_code, 0) << report << ": " << warned.out;
    EXPECT_TRUE(has(warned.out, std::string("warning: --list runs nothing, so ") + report + " writes no report")) << warned.out;
    EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/r")) << report;
  }
}

std::vector<std::string> runDirectories(const std::string& state) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(state + "/runs")) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// --keep-runs (10): the 11th run removes the oldest run directory and says so; the state directory is
// marked for git and backups as pytest marks its cache.
TEST_F(CommandLineTest, TheEleventhRunRemovesTheOldestRunDirectory) {
  auto m = manifest();
  const std::string state = dir_.path() + "/.mpexec", report = dir_.path() + "/r.json";
  std::vector<std::string> ids;
  for (int i = 1; i <= 11; ++i) {
    auto r = runMpexec({"--no-sandbox", "--json", report, m});
    ASSERT_EQ(r.exit_code, 0) << r.out;
    ids.emplace_back(test::readJson(report).at("run").as_object().at("id").as_string());
    bool said = has(r.out, "removed the oldest run directory from .mpexec/runs (--keep-runs 10: the last 10 are kept)");
    EXPECT_EQ(said, i == 11) << "run " << i << ":\n" << r.out;
  }
  // Oldest by name (the ids start with the time): the ten greatest stay, this run's among them.
  std::vector<std::string> kept = ids;
  std::sort(kept.begin(), kept.end());
  kept.erase(kept.begin());
  EXPECT_EQ(runDirectories(state), kept);
  EXPECT_EQ(test::readFile(state + "/.gitignore"), "# Created by mpexec automatically.\n*\n");
  EXPECT_EQ(test::readFile(state + "/CACHEDIR.TAG").rfind("Signature: 8a477f597d28d172789f06886806bc55\n", 0), 0u);

  auto two = runMpexec({"--no-sandbox", "--keep-runs", "2", m});
  EXPECT_TRUE(has(two.out, "removed the 9 oldest run directories")) << two.out;
  EXPECT_EQ(runDirectories(state).size(), 2u);
  ASSERT_EQ(runMpexec({"--no-sandbox", "--keep-runs", "0", m}).exit_code, 0);
  EXPECT_EQ(runDirectories(state).size(), 3u);

  // A --state-dir that was there already may be the user's own: not marked.
  std::string own = dir_.path() + "/own";
  std::filesystem::create_directories(own);
  ASSERT_EQ(runMpexec({"--no-sandbox", "--state-dir", own, m}).exit_code, 0);
  EXPECT_FALSE(std::filesystem::exists(own + "/.gitignore"));
  EXPECT_FALSE(std::filesystem::exists(own + "/CACHEDIR.TAG"));
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
