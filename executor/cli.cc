#include <cstdio>
#include <map>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "executor/config.h"
#include "executor/shard_env.h"

namespace mpexec {

namespace {

/// "K/N" with 1 <= K <= N.
std::string parseShard(const std::string& s, std::optional<std::pair<int, int>>& out) {
  int k = 0, n = 0;
  char tail = 0;
  if (sscanf(s.c_str(), "%d/%d%c", &k, &n, &tail) != 2 || n < 1 || k < 1 || k > n)
    return "--shard: expected K/N with 1 <= K <= N, got '" + s + "'";
  out = std::make_pair(k, n);
  return {};
}

/// A number within [lo, hi], with a message that says so in plain words.
CLI::Validator between(double lo, double hi) {
  return CLI::Validator(
      [lo, hi](std::string& text) -> std::string {
        char* end = nullptr;
        double v = strtod(text.c_str(), &end);
        if (text.empty() || *end != '\0') return "expected a number, got '" + text + "'";
        if (v < lo || v > hi) return fmt::format("expected a number from {:g} to {:g}, got {}", lo, hi, text);
        return {};
      },
      fmt::format("[{:g}..{:g}]", lo, hi));
}

/// Above zero: a timeout or a grace period may be a fraction of a second.
CLI::Validator positive() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        char* end = nullptr;
        double v = strtod(text.c_str(), &end);
        if (text.empty() || *end != '\0') return "expected a number, got '" + text + "'";
        if (!(v > 0)) return "expected a number above 0, got " + text;
        return {};
      },
      "(>0)");
}

}  // namespace

int parseCommandLine(int argc, char** argv, Config& c) {
  CLI::App app{"mpexec: a sandboxed, container-per-group test executor.\n"
               "  mpexec [options] MANIFEST\n"
               "  mpexec sync ...    (the sync service client; see `mpexec sync --help`)"};
  app.set_version_flag("--version", std::string("mpexec ") + MPEXEC_VERSION);
  app.add_option("manifest", c.manifest, "the manifest (JSON)")->required();
  app.add_option("-j,--np,--num-processes", c.np, "slots; 0 = CPU count (capped at the number of units)")
      ->check(between(0, 4096));
  app.add_option("--timeout", c.timeout_s, "default per-test timeout in seconds (60)")->check(positive());
  app.add_option("--kill-grace", c.kill_grace_s, "seconds between SIGTERM and SIGKILL on a timeout (2)")
      ->check(between(0, 3600));
  app.add_option("--filter", c.filter, "run only tests whose name matches this regular expression");
  app.add_option("--exclude", c.exclude, "leave out tests whose name matches this regular expression");
  app.add_flag("--list", c.list, "print the plan (phases, units, tests) and exit");
  app.add_flag("--shuffle", c.shuffle, "seeded random order inside the pool and isolated_free windows");
  app.add_option("--seed", c.seed, "the seed for --shuffle (printed when chosen at random)");
  bool fail_fast = false;
  app.add_flag("-x,--fail-fast", fail_fast, "stop starting units after the first failure");
  app.add_option("--max-fail", c.max_fail, "stop starting units after N failures")->check(between(1, 1e9));
  app.add_option("--retries", c.retries, "rerun a failing test up to N times; a pass on a retry is FLAKY")
      ->check(between(0, 1000));
  app.add_option("--repeat", c.repeat, "run the whole selection N times, one after another")
      ->check(between(1, 1e6));
  app.add_option("--until-fail", c.until_fail, "repeat up to N times, stopping after a run with a failure")
      ->check(between(1, 1e6));
  app.add_flag("--rerun-failed", c.rerun_failed, "only the tests that failed in the last run");
  std::string shard;
  app.add_option("--shard", shard, "run shard K of N (1-based)");
  app.add_option("--shard-total", c.shard_total, "N shards, with JOB_COMPLETION_INDEX as the 0-based index")
      ->check(between(1, 1e6));
  app.add_option("--shard-by-durations", c.shard_by_durations,
                 "balance the shards by the durations in this state file or JSON report (the same for every shard)");
  std::string output = "errors";
  app.add_option("--output", output, "captured output shown: errors|all|none|streamed")
      ->check(CLI::IsMember({"errors", "all", "none", "streamed"}));
  app.add_option("--json", c.json, "write the JSON report here");
  app.add_option("--junit", c.junit, "write a JUnit XML report here");
  app.add_option("--trace", c.trace, "write a Trace Event JSON file here");
  app.add_option("--html", c.html, "write a self-contained HTML report here");
  app.add_option("--report-dir", c.report_dir, "write report.json (and the other reports) into this directory");
  app.add_option("--state-dir", c.state_dir, "where durations and failures are kept (<manifest dir>/.mpexec)");
  app.add_flag("--no-sandbox", c.no_sandbox, "run units as plain process groups (no namespaces)");
  app.add_option("--sync-bind", c.sync_bind, "also serve the sync API on TCP ADDR[:PORT]");
  bool quiet = false, verbose = false;
  app.add_flag("-q,--quiet", quiet, "only the summary");
  app.add_flag("-v,--verbose", verbose, "a line per test even on a terminal");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (fail_fast) c.max_fail = 1;
  if (!shard.empty()) {
    if (std::string err = parseShard(shard, c.shard); !err.empty()) {
      fmt::print(stderr, "mpexec: {}\n", err);
      return 2;
    }
  }
  if (c.repeat > 1 && c.until_fail > 0) {
    fmt::print(stderr, "mpexec: --repeat and --until-fail exclude each other\n");
    return 2;
  }
  if (std::string err = applyShardEnvironment(c); !err.empty()) {
    fmt::print(stderr, "mpexec: {}\n", err);
    return 2;
  }
  if (c.seed && !c.shuffle) {
    fmt::print(stderr, "mpexec: --seed goes with --shuffle\n");
    return 2;
  }
  static const std::map<std::string, OutputMode> modes = {
      {"errors", OutputMode::Errors}, {"all", OutputMode::All}, {"none", OutputMode::None}, {"streamed", OutputMode::Streamed}};
  c.output = modes.at(output);
  c.verbosity = quiet ? 0 : verbose ? 2 : 1;
  return -1;
}

}  // namespace mpexec
