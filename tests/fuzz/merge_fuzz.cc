// `mpexec merge` (executor/reports/merge.cc) on arbitrary shard reports: the input is split at lines
// "--" into up to four reports, the first and third of which sit in their run directories (runs/r1/,
// runs/r2/). A merge never throws or runs away; what it writes is valid UTF-8 JSON that names every planned
// test once when it says the merge is complete; its JUnit report is valid UTF-8 and copies a log only from
// the run directory of the test's own report: never the file outside every run, never through a symlink.

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include <boost/json.hpp>

#include "executor/reports/merge.h"
#include "executor/printable.h"
#include "executor/utf8.h"
#include "tests/fuzz/fuzz_target.h"
#include "tests/fuzz/oracle.h"
#include "tests/support/temp_dir.h"

namespace mpexec::fuzz {
namespace {

namespace json = boost::json;

constexpr const char* kSecret = "MPEXEC-SECRET-OUTSIDE";

// ci/.mpexec/runs/r1 and r2 with a log each; beside them a file no log may reach, and ways out of r1.
const test::TempDir& tree() {
  static const test::TempDir dir;
  static const bool filled = [] {
    dir.write("secret.txt", kSecret);
    dir.write("ci/.mpexec/runs/r1/logs/a.log", "LOG-R1");
    dir.write("ci/.mpexec/runs/r2/logs/b.log", "LOG-R2");
    namespace fs = std::filesystem;
    const std::string logs = dir.path() + "/ci/.mpexec/runs/r1/logs/";
    fs::create_symlink("../../../../../secret.txt", logs + "rel.log");
    fs::create_symlink(dir.path() + "/secret.txt", logs + "abs.log");
    fs::create_symlink(dir.path(), logs + "up");
    fs::create_symlink("a.log", logs + "inside.log");
    mkfifo((logs + "fifo.log").c_str(), 0600);
    return true;
  }();
  (void)filled;
  return dir;
}

// The first line of /etc/passwd, XML-escaped as the JUnit report would hold it.
const std::string& passwdLine() {
  static const std::string line = [] {
    std::ifstream in("/etc/passwd");
    std::string l;
    std::getline(in, l);
    return xmlEscape(l);
  }();
  return line;
}

std::vector<std::string_view> split(std::string_view input) {
  std::vector<std::string_view> parts;
  while (parts.size() < 3) {
    std::size_t sep = input.find("\n--\n");
    if (sep == std::string_view::npos) break;
    parts.push_back(input.substr(0, sep));
    input.remove_prefix(sep + 4);
  }
  parts.push_back(input);
  return parts;
}

}  // namespace
}  // namespace mpexec::fuzz

using namespace mpexec;
using namespace mpexec::fuzz;

MPEXEC_FUZZ_TARGET(merge) {
  const std::string root = tree().path();
  const std::string paths[] = {root + "/ci/.mpexec/runs/r1/report.json", root + "/shard2.json",
                               root + "/ci/.mpexec/runs/r2/report.json", root + "/shard4.json"};
  std::vector<ShardReport> reports;
  std::vector<std::string_view> texts = split(input);
  for (std::size_t i = 0; i < texts.size(); ++i) {
    auto r = readShardReport(paths[i], texts[i]);
    if (!r.ok()) {
      FUZZ_CHECK(isPrintable(r.error().message()), "message {}", printable(r.error().message()));
      return;
    }
    reports.push_back(std::move(*r));
  }
  auto merged = mergeReports(reports);
  if (!merged.ok()) {
    FUZZ_CHECK(isPrintable(merged.error().message()), "message {}", printable(merged.error().message()));
    return;
  }
  const Merged& m = *merged;
  const std::string text = json::serialize(m.report);
  FUZZ_CHECK(isValidUtf8(text) && isJsonDocument(text), "the merged report is not UTF-8 JSON");
  const json::array& tests = m.report.at("tests").as_array();
  FUZZ_CHECK(m.test_reports.size() == tests.size(), "{} report indices for {} tests", m.test_reports.size(), tests.size());
  std::size_t reported = 0;
  for (const ShardReport& r : reports) reported += r.report.at("tests").as_array().size();
  FUZZ_CHECK(tests.size() == reported + m.missing.size(), "{} tests merged from {} reported and {} missing", tests.size(),
             reported, m.missing.size());
  FUZZ_CHECK(m.missing_shards.size() <= kMissingShardsNamed && m.missing_shards.size() <= m.missing_shard_count,
             "{} missing shards named of {}", m.missing_shards.size(), m.missing_shard_count);
  if (m.complete()) {
    std::map<std::string_view, int> seen;
    for (const json::value& t : tests) ++seen[t.at("name").as_string()];
    for (const auto& [name, n] : seen) FUZZ_CHECK(n == 1, "complete, but {} appears {} times", printable(name), n);
  }

  ShardLogs logs({root + "/ci"});
  const std::string junit = mergedJunit(m, reports, logs);
  FUZZ_CHECK(isValidUtf8(junit), "the JUnit report is not UTF-8");
  // A file's text in the report is a file read, unless the reports themselves hold that text.
  auto copied = [&](std::string_view marker) {
    return !marker.empty() && junit.find(marker) != std::string::npos && input.find(marker) == std::string_view::npos;
  };
  FUZZ_CHECK(junit.find("time=\"-") == std::string::npos, "a negative time in the JUnit report");
  FUZZ_CHECK(!copied(kSecret), "the JUnit report copied a file outside every run directory");
  FUZZ_CHECK(!copied(passwdLine()), "the JUnit report copied /etc/passwd");
  for (const char* id : {"r1", "r2"}) {
    bool has_run = std::any_of(reports.begin(), reports.end(), [&](const ShardReport& r) {
      const json::value* v = r.report.at("run").as_object().if_contains("id");
      return v && *v == id;
    });
    FUZZ_CHECK(has_run || !copied(std::string("LOG-") + (id[1] == '1' ? "R1" : "R2")),
               "the JUnit report copied the log of run {}, which no report is", id);
  }
  for (const std::string& w : logs.refusals()) FUZZ_CHECK(isPrintable(w), "warning {}", printable(w));
}
