// mpexec where C++ projects and CI live: a CMake + GoogleTest project imported from CTest gives CTest's
// verdicts; four shards (each chosen a different CI way) merge into one report that covers every test
// once; a merge without one shard names its tests; JUnit passes xmllint; the Debian packages install.
// Every run here uses --no-sandbox: this suite is about the CI plumbing, not the containment.

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "tests/support/mpexec_process.h"
#include "tests/support/temp_dir.h"

namespace mpexec {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using test::readFile;
using test::readJson;
using test::runMpexec;
using test::shell;

bool have(const std::string& tool) {
  return system(("command -v " + tool + " >/dev/null 2>&1").c_str()) == 0;
}

std::string shq(const std::string& s) { return "'" + std::regex_replace(s, std::regex("'"), "'\\''") + "'"; }

constexpr const char* kCMakeLists = R"(cmake_minimum_required(VERSION 3.16)
project(ci_demo CXX)
enable_testing()
find_package(GTest REQUIRED)
include(GoogleTest)
add_executable(unit unit.cc)
target_link_libraries(unit GTest::gtest GTest::gtest_main)
gtest_add_tests(TARGET unit)

add_test(NAME serial COMMAND sh -c "test \"$MODE\" = ci")
set_tests_properties(serial PROPERTIES RUN_SERIAL ON ENVIRONMENT "MODE=ci" LABELS "slow")
# Two tests that break if they ever overlap.
add_test(NAME lock_a COMMAND sh -c "mkdir db.lock && sleep 0.3 && rmdir db.lock")
add_test(NAME lock_b COMMAND sh -c "mkdir db.lock && sleep 0.3 && rmdir db.lock")
set_tests_properties(lock_a lock_b PROPERTIES RESOURCE_LOCK db)
# A fixture listed out of order: the user and cleanup come before the setup.
add_test(NAME fx_use COMMAND sh -c "grep -q up fx.state")
add_test(NAME fx_clean COMMAND sh -c "rm fx.state")
add_test(NAME fx_setup COMMAND sh -c "echo up > fx.state")
set_tests_properties(fx_setup PROPERTIES FIXTURES_SETUP state)
set_tests_properties(fx_use PROPERTIES FIXTURES_REQUIRED state)
set_tests_properties(fx_clean PROPERTIES FIXTURES_CLEANUP state)
add_test(NAME inverted COMMAND sh -c "exit 1")
set_tests_properties(inverted PROPERTIES WILL_FAIL ON)
add_test(NAME skipper COMMAND sh -c "exit 4")
set_tests_properties(skipper PROPERTIES SKIP_RETURN_CODE 4)
add_test(NAME broken COMMAND sh -c "exit 3")
add_test(NAME off COMMAND sh -c "exit 1")
set_tests_properties(off PROPERTIES DISABLED ON)
foreach(i RANGE 1 6)
  add_test(NAME free_${i} COMMAND sh -c "exit 0")
endforeach()
)";

constexpr const char* kUnitCc = R"(#include <gtest/gtest.h>
TEST(Math, Add) { EXPECT_EQ(1 + 1, 2); }
TEST(Math, Bad) { EXPECT_EQ(1 + 1, 3); }
TEST(Math, Mul) { EXPECT_EQ(2 * 3, 6); }
TEST(Math, DISABLED_Off) {}
)";

/// pass, fail or skip, per test name.
using Verdicts = std::map<std::string, std::string>;

Verdicts fromReport(const json::object& report) {
  Verdicts v;
  for (const auto& t : report.at("tests").as_array()) {
    const auto& o = t.as_object();
    std::string outcome(o.at("outcome").as_string());
    v[std::string(o.at("name").as_string())] = outcome == "PASS" || outcome == "FLAKY" ? "pass" : outcome == "SKIP" ? "skip" : "fail";
  }
  return v;
}

// The CMake project, configured and built once for the whole suite.
class CiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    for (const char* tool : {"cmake", "ctest"}) {
      if (!have(tool)) {
        skip_ = std::string(tool) + " is not installed";
        return;
      }
    }
    dir_ = new test::TempDir();
    dir_->write("src/CMakeLists.txt", kCMakeLists);
    dir_->write("src/unit.cc", kUnitCc);
    std::string out;
    if (shell("cmake -S " + shq(src()) + " -B " + shq(build()) + " && cmake --build " + shq(build()) + " -j 2", &out) != 0)
      skip_ = "cannot build the CMake project (GoogleTest's CMake package missing?): " + out.substr(out.size() > 2000 ? out.size() - 2000 : 0);
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
  }

  static std::string src() { return dir_->path() + "/src"; }
  static std::string build() { return dir_->path() + "/build"; }
  static std::string path(const std::string& name) { return dir_->path() + "/" + name; }

  /// `mpexec import ctest` into manifest.json, once.
  static std::string manifest() {
    static std::string made;
    if (made.empty()) {
      auto r = runMpexec({"import", "ctest", build()});
      EXPECT_EQ(r.exit_code, 0) << r.out;
      // stdout and stderr come interleaved: the manifest is the line that starts with '{'.
      std::string text;
      for (size_t b = 0; b < r.out.size();) {
        size_t e = r.out.find('\n', b);
        std::string line = r.out.substr(b, e == std::string::npos ? std::string::npos : e - b);
        if (line.rfind("{", 0) == 0) text = line;
        else import_stderr_ += line + "\n";
        b = e == std::string::npos ? r.out.size() : e + 1;
      }
      made = dir_->write("manifest.json", text + "\n");
    }
    return made;
  }

  /// The four shards' JSON reports, run once: each shard chosen the way one CI system does.
  static const std::vector<std::string>& shardReports() {
    static std::vector<std::string> reports;
    if (!reports.empty()) return reports;
    std::string m = manifest();
    struct Way {
      std::vector<std::string> args;
      std::map<std::string, std::string> env;
    } ways[] = {
        {{"--shard", "1/4"}, {}},
        {{}, {{"TEST_SHARD_INDEX", "1"}, {"TEST_TOTAL_SHARDS", "4"}, {"TEST_SHARD_STATUS_FILE", path("bazel.status")}}},
        {{}, {{"GTEST_SHARD_INDEX", "2"}, {"GTEST_TOTAL_SHARDS", "4"}}},
        {{"--shard-total", "4"}, {{"JOB_COMPLETION_INDEX", "3"}}},
    };
    for (int k = 0; k < 4; ++k) {
      std::string report = path("shard" + std::to_string(k + 1) + ".json");
      std::vector<std::string> args = {"--no-sandbox", "-q", "-j", "2", "--json", report};
      args.insert(args.end(), ways[k].args.begin(), ways[k].args.end());
      args.push_back(m);
      for (const auto& [name, value] : ways[k].env) setenv(name.c_str(), value.c_str(), 1);
      auto r = runMpexec(args);
      for (const auto& [name, value] : ways[k].env) unsetenv(name.c_str());
      EXPECT_TRUE(r.exit_code == 0 || r.exit_code == 1) << r.out;
      reports.push_back(report);
    }
    return reports;
  }

  static test::TempDir* dir_;
  static std::string skip_;
  static std::string import_stderr_;
};

test::TempDir* CiTest::dir_ = nullptr;
std::string CiTest::skip_;
std::string CiTest::import_stderr_;

TEST_F(CiTest, ImportedCtestProjectGivesCtestsVerdicts) {
  std::string ctest_out;
  shell("cd " + shq(build()) + " && ctest", &ctest_out);
  Verdicts ctest;
  std::regex line(R"(Test +#[0-9]+: (\S+) \.*\s*(?:\*\*\*)?(Passed|Failed|Skipped|Not Run|Exception|Timeout))");
  for (std::sregex_iterator it(ctest_out.begin(), ctest_out.end(), line), end; it != end; ++it) {
    std::string how = (*it)[2];
    if (how == "Not Run") continue;  // disabled: left out of the manifest as well
    ctest[(*it)[1]] = how == "Passed" ? "pass" : how == "Skipped" ? "skip" : "fail";
  }
  ASSERT_EQ(ctest.size(), 18u) << ctest_out;
  EXPECT_EQ(ctest["Math.Bad"], "fail");
  EXPECT_EQ(ctest["broken"], "fail");
  EXPECT_EQ(ctest["skipper"], "skip");
  EXPECT_EQ(ctest["inverted"], "pass");
  EXPECT_EQ(ctest["fx_use"], "pass");

  std::string m = manifest();
  EXPECT_NE(import_stderr_.find("DISABLED"), std::string::npos) << import_stderr_;
  EXPECT_NE(import_stderr_.find("off"), std::string::npos) << import_stderr_;
  std::string report = path("full.json"), junit = path("full.xml");
  auto r = runMpexec({"--no-sandbox", "-j", "2", "--json", report, "--junit", junit, m});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  auto rep = readJson(report);
  EXPECT_EQ(fromReport(rep), ctest);

  // The lock's tests share one serial unit; the RUN_SERIAL test has an isolated window of its own.
  const auto& a = test::testEntry(rep, "lock_a");
  const auto& b = test::testEntry(rep, "lock_b");
  EXPECT_EQ(a.at("unit"), b.at("unit"));
  EXPECT_EQ(a.at("strategy"), "serial");
  EXPECT_EQ(test::testEntry(rep, "serial").at("strategy"), "isolated_serial");
  EXPECT_EQ(test::testEntry(rep, "fx_setup").at("unit"), test::testEntry(rep, "fx_clean").at("unit"));

  // A failing gtest case says how to reproduce it.
  EXPECT_NE(r.out.find("reproduce: " + build() + "/unit --gtest_filter=Math.Bad"), std::string::npos) << r.out;

  if (!have("xmllint")) GTEST_SKIP() << "xmllint is not installed";
  std::string lint;
  EXPECT_EQ(shell("xmllint --noout " + shq(junit), &lint), 0) << lint;
  std::string xml = readFile(junit);
  EXPECT_NE(xml.find("<testsuite name=\"ctest.lock.db\""), std::string::npos);
  EXPECT_NE(xml.find("<failure message=\"exit code 3\" type=\"FAIL\">"), std::string::npos);
  EXPECT_NE(xml.find("<skipped "), std::string::npos);
  // Classnames a dashboard groups by: gtest_add_tests' cases by their suite, other tests by their name or
  // group, and CTest's LABELS as properties.
  EXPECT_NE(xml.find("<testcase name=\"Math.Add\" classname=\"Math\""), std::string::npos) << xml;
  EXPECT_NE(xml.find("<testcase name=\"broken\" classname=\"broken\""), std::string::npos) << xml;
  EXPECT_NE(xml.find("<testcase name=\"lock_a\" classname=\"ctest.lock.db\""), std::string::npos) << xml;
  EXPECT_NE(xml.find("<property name=\"label\" value=\"slow\"/>"), std::string::npos) << xml;
}

TEST_F(CiTest, FourShardsMergedCoverEveryTestOnceAndNeverSplitAGroup) {
  const auto& reports = shardReports();
  EXPECT_TRUE(fs::exists(path("bazel.status"))) << "TEST_SHARD_STATUS_FILE was not touched";
  std::set<std::string> planned;
  json::value m = json::parse(readFile(manifest()));
  for (const auto& t : m.at("tests").as_array())
    planned.insert(std::string(t.as_object().at("name").as_string()));
  ASSERT_EQ(planned.size(), 18u);

  std::map<std::string, int> times_seen;
  std::map<std::string, std::set<int>> group_shards;
  for (int k = 0; k < 4; ++k) {
    auto rep = readJson(reports[k]);
    EXPECT_EQ(rep.at("run").at("shard"), json::parse("[" + std::to_string(k + 1) + ", 4]")) << reports[k];
    for (const auto& t : rep.at("tests").as_array()) {
      const auto& o = t.as_object();
      ++times_seen[std::string(o.at("name").as_string())];
      if (o.at("group").is_string()) group_shards[std::string(o.at("group").as_string())].insert(k);
    }
  }
  for (const auto& name : planned) EXPECT_EQ(times_seen[name], 1) << name;
  EXPECT_EQ(times_seen.size(), planned.size());
  EXPECT_EQ(group_shards.size(), 3u);  // the lock, the fixture, the RUN_SERIAL test
  for (const auto& [group, shards] : group_shards) EXPECT_EQ(shards.size(), 1u) << group << " was split";

  std::string merged = path("merged.json"), junit = path("merged.xml");
  std::vector<std::string> args = {"merge"};
  args.insert(args.end(), reports.begin(), reports.end());
  args.insert(args.end(), {"--json", merged, "--junit", junit});
  auto r = runMpexec(args);
  EXPECT_EQ(r.exit_code, 1) << r.out;  // Math.Bad and broken fail; nothing is missing
  EXPECT_EQ(r.out.find("missing"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("more than once"), std::string::npos) << r.out;
  auto rep = readJson(merged);
  std::set<std::string> merged_names;
  for (const auto& t : rep.at("tests").as_array()) merged_names.insert(std::string(t.as_object().at("name").as_string()));
  EXPECT_EQ(merged_names, planned);
  EXPECT_EQ(rep.at("tests").as_array().size(), planned.size());
  // The same verdicts as one unsharded run: GTEST_* sharding did not reach the gtest cases.
  Verdicts v = fromReport(rep);
  EXPECT_EQ(v["Math.Bad"], "fail");
  EXPECT_EQ(v["Math.Add"], "pass");
  EXPECT_EQ(v["fx_use"], "pass");
  EXPECT_EQ(v["lock_b"], "pass");

  if (!have("xmllint")) GTEST_SKIP() << "xmllint is not installed";
  std::string lint;
  EXPECT_EQ(shell("xmllint --noout " + shq(junit), &lint), 0) << lint;
  EXPECT_NE(readFile(junit).find("tests=\"18\""), std::string::npos);
}

TEST_F(CiTest, AMergeWithAShardMissingFailsAndNamesItsTests) {
  const auto& reports = shardReports();
  // Leave out a shard that has tests.
  int left_out = -1;
  std::vector<std::string> its_tests;
  for (int k = 0; k < 4 && left_out < 0; ++k) {
    auto rep = readJson(reports[k]);
    if (rep.at("tests").as_array().empty()) continue;
    left_out = k;
    for (const auto& t : rep.at("tests").as_array()) its_tests.emplace_back(t.as_object().at("name").as_string());
  }
  ASSERT_GE(left_out, 0);
  std::vector<std::string> args = {"merge", "--json", path("partial.json")};
  for (int k = 0; k < 4; ++k)
    if (k != left_out) args.push_back(reports[k]);
  auto r = runMpexec(args);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("no report for shard " + std::to_string(left_out + 1) + "/4"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(std::to_string(its_tests.size()) + " planned test(s) missing"), std::string::npos) << r.out;
  for (const auto& name : its_tests) EXPECT_NE(r.out.find(name), std::string::npos) << name;
  // They are in the merged report too, as NOT_RUN.
  auto rep = readJson(path("partial.json"));
  for (const auto& name : its_tests) EXPECT_EQ(test::testEntry(rep, name).at("outcome"), "NOT_RUN") << name;

  // A shard given twice: its tests are named as duplicated.
  std::vector<std::string> twice = {"merge", "--json", path("twice.json")};
  twice.insert(twice.end(), reports.begin(), reports.end());
  twice.push_back(reports[left_out]);
  auto d = runMpexec(twice);
  EXPECT_EQ(d.exit_code, 1);
  EXPECT_NE(d.out.find("appear more than once: " + its_tests.front()), std::string::npos) << d.out;
}

TEST_F(CiTest, ImportGtestRunsEveryCaseAndTheReproduceLineReproduces) {
  auto imported = runMpexec({"import", "gtest", build() + "/unit"});
  ASSERT_EQ(imported.exit_code, 0) << imported.out;
  std::string m = dir_->write("gtest.json", imported.out);
  std::string report = path("gtest-report.json");
  auto r = runMpexec({"--no-sandbox", "--json", report, m});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  Verdicts v = fromReport(readJson(report));
  EXPECT_EQ(v, (Verdicts{{"unit.Math.Add", "pass"}, {"unit.Math.Bad", "fail"}, {"unit.Math.Mul", "pass"}}));
  std::smatch match;
  ASSERT_TRUE(std::regex_search(r.out, match, std::regex("reproduce: (.*)"))) << r.out;
  std::string again;
  EXPECT_EQ(shell(match[1].str(), &again), 1);
  EXPECT_NE(again.find("[  FAILED  ] Math.Bad"), std::string::npos) << again;
  EXPECT_EQ(again.find("Math.Add"), std::string::npos) << again;
}

/// packaging/`name` of the source tree (the working directory, or MPEXEC_SOURCE_DIR), absolute; empty when
/// there is none.
std::string packagingScript(const std::string& name) {
  for (std::string root : {std::string(getenv("MPEXEC_SOURCE_DIR") ? getenv("MPEXEC_SOURCE_DIR") : ""), std::string(".")}) {
    if (!root.empty() && fs::exists(root + "/packaging/" + name)) return fs::absolute(root + "/packaging/" + name).string();
  }
  return "";
}

// The Debian package: built by packaging/deb.sh from the binary under test, unpacked into a temporary
// root, it holds a working /usr/bin/mpexec, the man page and completion, and depends on its libraries.
TEST(CiPackageTest, DebHoldsAWorkingBinaryManPageAndDepends) {
  std::string script = packagingScript("deb.sh");
  if (script.empty()) GTEST_SKIP() << "packaging/deb.sh not found (run from the source tree or set MPEXEC_SOURCE_DIR)";
  for (const char* tool : {"dpkg-deb", "dpkg-shlibdeps", "man"})
    if (!have(tool)) GTEST_SKIP() << tool << " is not installed";
  test::TempDir dir;
  std::string out;
  ASSERT_EQ(shell(shq(script) + " " + shq(test::mpexecBinary()) + " 9.9.9 " + shq(dir.path()), &out), 0) << out;
  std::string deb = dir.path() + "/mpexec_9.9.9_";
  std::string arch;
  shell("dpkg --print-architecture | tr -d '\\n'", &arch);
  deb += arch + ".deb";
  ASSERT_TRUE(fs::exists(deb)) << out;

  std::string info;
  ASSERT_EQ(shell("dpkg-deb -f " + shq(deb) + " Depends", &info), 0);
  for (const char* lib : {"libc6", "libfmt9"})
    EXPECT_NE(info.find(lib), std::string::npos) << lib << " missing from Depends: " << info;
  // Linked statically (Makefile), or no longer used: not dependencies of the package.
  for (const char* lib : {"libseccomp2", "libboost-json", "libcpp-httplib"})
    EXPECT_EQ(info.find(lib), std::string::npos) << lib << " in Depends: " << info;

  std::string root = dir.path() + "/root";
  ASSERT_EQ(shell("dpkg-deb -x " + shq(deb) + " " + shq(root), &out), 0) << out;
  std::string version;
  EXPECT_EQ(shell(shq(root + "/usr/bin/mpexec") + " --version", &version), 0);
  EXPECT_NE(version.find("mpexec"), std::string::npos) << version;
  // The installed mpexec finds its spawner program and its HTTP front (a test that takes a lock) in
  // ../lib/mpexec.
  std::string manifest = dir.path() + "/m.json";
  std::ofstream(manifest) << R"({"version": 1, "tests": [{"name": "t", "cmd": ["/bin/sh", "-c",
    "\"$MPEXEC_EXE\" sync lock acquire L && \"$MPEXEC_EXE\" sync lock release L"]}]})";
  std::string verbose;
  EXPECT_EQ(shell(shq(root + "/usr/bin/mpexec") + " -v --no-sandbox --state-dir " + shq(dir.path() + "/state") +
                      " " + shq(manifest),
                  &verbose),
            0)
      << verbose;
  EXPECT_NE(verbose.find("spawner: " + root + "/usr/bin/../lib/mpexec/mpexec-spawner"), std::string::npos) << verbose;
  std::string page;
  EXPECT_EQ(shell("MANWIDTH=80 man -l " + shq(root + "/usr/share/man/man1/mpexec.1.gz") + " | col -b", &page), 0);
  for (const char* section : {"SYNOPSIS", "MANIFEST", "SYNC COMMANDS", "mpexec merge", "--shard-by-durations"})
    EXPECT_NE(page.find(section), std::string::npos) << section;
  EXPECT_TRUE(fs::exists(root + "/usr/share/bash-completion/completions/mpexec"));

  if (!have("lintian")) GTEST_SKIP() << "lintian is not installed (packaging/install-deps.sh --package)";
  std::string lint;
  shell("lintian --tag-display-limit 0 " + shq(deb), &lint);
  EXPECT_EQ(lint.find("E: "), std::string::npos) << lint;
}

// python3-mpexec, as dh_python3 would make it (Debian's Python policy): it ships no bytecode; its postinst
// byte-compiles the modules where they are installed (py3compile) and its prerm removes that bytecode
// (py3clean), so that removing the package leaves no directory behind. Installed and removed with dpkg
// for real, in a mount namespace of the test's own where /usr and dpkg's database are overlays: nothing
// of the host changes.
TEST(CiPackageTest, PythonDebByteCompilesAtInstallAndCleansAtRemoval) {
  std::string script = packagingScript("deb-python.sh");
  if (script.empty()) GTEST_SKIP() << "packaging/deb-python.sh not found (run from the source tree or set MPEXEC_SOURCE_DIR)";
  if (!have("dpkg-deb")) GTEST_SKIP() << "dpkg-deb is not installed";
  test::TempDir dir;
  std::string out;
  ASSERT_EQ(shell(shq(script) + " 9.9.9 " + shq(dir.path()), &out), 0) << out;
  const std::string deb = dir.path() + "/python3-mpexec_9.9.9_all.deb";
  ASSERT_TRUE(fs::exists(deb)) << out;

  std::string contents;
  ASSERT_EQ(shell("dpkg-deb -c " + shq(deb), &contents), 0) << contents;
  EXPECT_NE(contents.find("dist-packages/mpexec/client.py"), std::string::npos) << contents;
  EXPECT_EQ(contents.find("__pycache__"), std::string::npos) << "bytecode is made at install:\n" << contents;
  const std::string control = dir.path() + "/control";
  ASSERT_EQ(shell("dpkg-deb -e " + shq(deb) + " " + shq(control), &out), 0) << out;
  for (const auto& [name, call] : {std::pair{"postinst", "py3compile -p python3-mpexec"},
                                   std::pair{"prerm", "py3clean -p python3-mpexec"}}) {
    const std::string path = control + "/" + name;
    ASSERT_TRUE(fs::exists(path)) << name << " missing";
    EXPECT_EQ(access(path.c_str(), X_OK), 0) << name << " is not executable";
    EXPECT_NE(readFile(path).find(call), std::string::npos) << name << ":\n" << readFile(path);
  }

  if (geteuid() != 0) GTEST_SKIP() << "installing the package with dpkg needs root";
  for (const char* tool : {"dpkg", "unshare", "findmnt", "py3compile", "py3clean"})
    if (!have(tool)) GTEST_SKIP() << tool << " is not installed";
  // Exits 77 before dpkg runs unless both overlays are in place.
  const std::string install = R"sh(set -eu
d=$1 deb=$2
mkdir -p "$d/usr.up" "$d/usr.work" "$d/dpkg.up" "$d/dpkg.work"
mount -t overlay overlay -o "lowerdir=/usr,upperdir=$d/usr.up,workdir=$d/usr.work" /usr || exit 77
mount -t overlay overlay -o "lowerdir=/var/lib/dpkg,upperdir=$d/dpkg.up,workdir=$d/dpkg.work" /var/lib/dpkg || exit 77
[ "$(findmnt -n -o FSTYPE /usr)" = overlay ] && [ "$(findmnt -n -o FSTYPE /var/lib/dpkg)" = overlay ] || exit 77
site=/usr/lib/python3/dist-packages/mpexec
dpkg --log=/dev/null --force-unsafe-io -i "$deb"
echo "installed: $(ls "$site/__pycache__" | grep -c '^client\.cpython-.*\.pyc$')"
/usr/bin/python3 -B -c 'import mpexec.client, os; print("cached:", os.path.exists(mpexec.client.__cached__))'
dpkg --log=/dev/null --force-unsafe-io -r python3-mpexec
[ -e "$site" ] && echo "left: $(find "$site")" || echo "removed"
)sh";
  std::string log;
  int rc = shell("unshare --mount --propagation private sh -c " + shq(install) + " sh " +
                     shq(dir.path() + "/overlay") + " " + shq(deb),
                 &log);
  if (rc == 77) GTEST_SKIP() << "no overlay mount here: " << log;
  ASSERT_EQ(rc, 0) << log;
  EXPECT_NE(log.find("installed: 1"), std::string::npos) << "no bytecode after dpkg -i:\n" << log;
  EXPECT_NE(log.find("cached: True"), std::string::npos) << "python3 does not find the bytecode:\n" << log;
  EXPECT_NE(log.find("removed"), std::string::npos) << "dpkg -r left the package's directory:\n" << log;
  EXPECT_EQ(log.find("not empty so not removed"), std::string::npos) << log;
}

}  // namespace
}  // namespace mpexec
