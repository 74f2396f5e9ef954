#pragma once
// `mpexec merge REPORT.json...` (DESIGN §8): the JSON reports of the shards of one run, joined into one
// JSON report (and a JUnit one), checked so that every planned test appears exactly once.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "executor/reports/shard_logs.h"
#include "sandbox/result.h"

namespace mpexec {

struct ShardReport {
  std::string path;             ///< for messages and for finding its logs
  boost::json::object report;   ///< as report_json.h writes it
};

/// How many of the missing shard indices Merged::missing_shards names.
constexpr std::size_t kMissingShardsNamed = 50;

struct Merged {
  static constexpr std::size_t kNoReport = std::size_t(-1);
  boost::json::object report;            ///< one JSON report: tests in planned order, missing ones NOT_RUN
  std::vector<std::size_t> test_reports;  ///< per entry of report["tests"]: the index of its report, or kNoReport
  std::vector<std::string> missing;      ///< planned, but in no report
  std::vector<std::string> duplicated;   ///< in more than one report (or twice in one)
  std::vector<std::string> unplanned;    ///< in a report, but not in the shards' planned list
  uint64_t missing_shard_count = 0;      ///< shard indices no report covers
  std::vector<std::string> missing_shards;  ///< the first kMissingShardsNamed of them, e.g. "3/4"
  bool complete() const { return missing.empty() && duplicated.empty() && unplanned.empty() && missing_shard_count == 0; }
};

/// Joins the reports. The planned list is the "planned" array that sharded reports carry (the whole
/// selection, identical in every shard); reports without it (unsharded runs) are only checked for
/// duplicates. Each test entry gains "shard" (its shard's K, or the report's 1-based position when
/// unsharded) and its unit id the prefix "s<K>.", so that units stay distinct. The merged run's
/// exit_code is 1 when coverage is incomplete or any test failed, else 0.
/// Fails when a report is not a JSON report (a "run" object, a "tests" array of objects with a string
/// "name", "run.shard" null or [K, N] with 1 <= K <= N, "planned" null or an array of distinct names), or
/// the reports come from different manifests (digests), different shard counts, or plan different tests.
Result<Merged> mergeReports(const std::vector<ShardReport>& reports);

/// `text`, the contents of the file `path`, as a report to merge; fails when it is not a JSON object.
Result<ShardReport> readShardReport(const std::string& path, std::string_view text);

/// The merged report as JUnit XML, each test's log read from its own report's run directory by `logs`
/// (shard_logs.h).
std::string mergedJunit(const Merged& merged, const std::vector<ShardReport>& reports, ShardLogs& logs);

/// The subtool's command line: `merge REPORT.json... [--json F] [--junit F] [--log-root DIR]...`
/// (argv[0] is "merge"). Without --json the merged report goes to stdout. Exits 0 when every planned test
/// appears exactly once and none failed, 1 when one is missing, duplicated or failed (naming the missing
/// and duplicated ones), 2 on a usage error or unusable input.
int mergeMain(int argc, char** argv);

}  // namespace mpexec
