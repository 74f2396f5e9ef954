#include <unistd.h>

#include <cstdio>
#include <map>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "executor/closest.h"
#include "executor/config.h"
#include "executor/exit_code.h"
#include "executor/input_file.h"
#include "executor/printable.h"
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

constexpr const char* kExitCodesHelp =
    "Exit codes: 0 every test passed or was skipped, 1 a test failed, 2 usage or manifest error,\n"
    "3 infrastructure failure, 4 no test selected (--no-tests), 130 interrupted.\n";

/// What parse() left over: an unknown option (with the closest known one), a second manifest, or no
/// manifest at all. Empty when all is well.
std::string unexpectedArguments(const CLI::App& app, const std::vector<std::string>& extras,
                                const std::string& manifest) {
  std::vector<std::string> known;
  for (const CLI::Option* o : app.get_options()) {
    for (const std::string& n : o->get_lnames()) known.push_back("--" + n);
    for (const std::string& n : o->get_snames()) known.push_back("-" + n);
  }
  // Options first: the positional after a mistyped option is not the problem.
  for (const std::string& a : extras) {
    if (a.size() < 2 || a[0] != '-') continue;
    std::string name = a.substr(0, a.find('='));
    std::string msg = fmt::format("unknown option '{}'", name);
    // One letter is one edit from every other: no guess for those.
    if (auto near = name.size() > 2 ? closestMatch(name, known) : std::nullopt)
      msg += fmt::format("; did you mean '{}'?", *near);
    return msg + " (see mpexec --help)";
  }
  // `mpexec improt ctest`: a word that is no file but nearly a subtool's name.
  if (!manifest.empty() && manifest.find_first_of("./") == std::string::npos && access(manifest.c_str(), F_OK) != 0) {
    if (auto near = closestMatch(manifest, {"import", "merge", "sync"}))
      return fmt::format("no manifest '{}', and no subtool of that name; did you mean 'mpexec {}'?", manifest, *near);
  }
  if (!extras.empty())
    return fmt::format("unexpected argument '{}': mpexec runs one MANIFEST (see mpexec --help)", extras.front());
  if (manifest.empty()) return "no MANIFEST given (see mpexec --help)";
  return {};
}

}  // namespace

int parseCommandLine(int argc, char** argv, Config& c) {
  CLI::App app{"mpexec: a sandboxed, container-per-group test executor.\n"
               "  mpexec [OPTIONS] MANIFEST          run the manifest's tests\n"
               "  mpexec import gtest|ctest ...      write a manifest from GoogleTest binaries or a CTest build\n"
               "  mpexec import pytest|unittest ...  write a manifest from a pytest-mp or unittest/nose2 suite\n"
               "  mpexec merge REPORT.json...        join the JSON reports of shards into one\n"
               "  mpexec sync board|lock|trail ...   the sync service client, for tests\n"
               "Each subtool has its own --help.",
               "mpexec"};
  app.footer(kExitCodesHelp);
  app.allow_extras();  // unknown options are reported below, with the closest known one
  app.set_version_flag("--version", std::string("mpexec ") + MPEXEC_VERSION);
  app.add_option("MANIFEST", c.manifest, "the manifest (JSON)");
  app.add_option("-j,--np,--num-processes", c.np, "slots (never more than units); 0 = CPU count")
      ->check(between(0, 4096));
  app.add_option("--timeout", c.timeout_s, "default per-test timeout in seconds (60)")->check(positive());
  app.add_option("--kill-grace", c.kill_grace_s, "seconds between SIGTERM and SIGKILL on a timeout (2)")
      ->check(between(0, 3600));
  app.add_option("--filter", c.filter, "run only tests whose name matches this regular expression");
  app.add_option("--exclude", c.exclude, "leave out tests whose name matches this regular expression");
  app.add_option("-L,--label", c.labels,
                 "run only tests with a label matching this regular expression (repeated: a match for each)")
      ->allow_extra_args(false);
  app.add_option("--exclude-label", c.exclude_labels,
                 "leave out tests with a label matching this regular expression (repeated: a match for each)")
      ->allow_extra_args(false);
  app.add_flag("--list", c.list, "print the plan (phases, units, tests) and exit; --list=json: as JSON (--list --json F: also to F)");
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
  std::string no_tests = "fail";
  app.add_option("--no-tests", no_tests, "when the selection matches no test: fail (exit 4), warn or pass (exit 0)")
      ->check(CLI::IsMember({"fail", "warn", "pass"}));
  std::string shard;
  app.add_option("--shard", shard, "run shard K of N (1-based)");
  app.add_option("--shard-total", c.shard_total, "N shards, with JOB_COMPLETION_INDEX as the 0-based index")
      ->check(between(1, 1e6));
  app.add_option("--shard-by-durations", c.shard_by_durations,
                 "balance the shards by the durations in this state file or JSON report (the same for every shard)");
  std::string resources, resource_spec;
  app.add_option("--resource-spec-file", resource_spec,
                 "how many of each resource exist, from ctest's resource specification file (JSON)");
  app.add_option("--resources", resources,
                 "how many of each resource exist, e.g. gpu=2,db=1 (over the manifest's \"resources\")");
  std::string output = "errors";
  app.add_option("--output", output, "captured output shown: errors|all|none|streamed")
      ->check(CLI::IsMember({"errors", "all", "none", "streamed"}));
  app.add_option("--json", c.json, "write the JSON report here");
  app.add_option("--junit", c.junit, "write a JUnit XML report here");
  app.add_option("--trace", c.trace, "write a Trace Event JSON file here");
  app.add_option("--html", c.html, "write a self-contained HTML report here");
  app.add_option("--report-dir", c.report_dir, "write report.json (and the other reports) into this directory");
  app.add_option("--state-dir", c.state_dir, "where durations and failures are kept (<manifest dir>/.mpexec)");
  app.add_option("--keep-runs", c.keep_runs, "keep the last N run directories in the state directory (10); 0: all")
      ->check(between(0, 1e6));
  app.add_flag("--no-sandbox", c.no_sandbox, "run units as plain process groups (no namespaces)");
  app.add_option("--sync-bind", c.sync_bind, "also serve the sync API on TCP ADDR[:PORT]");
  bool quiet = false, verbose = false;
  app.add_flag("-q,--quiet", quiet, "only failures (each with its output) and the summary");
  app.add_flag("-v,--verbose", verbose, "a line per test even on a terminal");
  std::string color = "auto";
  app.add_option("--color", color, "colours: auto (on a terminal, unless NO_COLOR is set), always or never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  app.add_option("--slow", c.slow_s, "say SLOW each time a test has run S seconds more (60); 0: never")
      ->check(between(0, 1e9));
  // --list=json: CLI11 would show a flag with a value as "--list{text}" in --help, so the format is taken
  // out here and the flag left for CLI11.
  std::vector<char*> args(argv, argv + argc);
  std::string list_as = "--list";
  for (char*& a : args) {
    std::string_view arg = a;
    if (arg.rfind("--list=", 0) != 0) continue;
    std::string_view format = arg.substr(7);
    if (format != "json" && format != "text") {
      fmt::print(stderr, "mpexec: --list={}: the formats are text and json\n", format);
      return kExitUsage;
    }
    c.list_format = format == "json" ? ListFormat::Json : ListFormat::Text;
    a = list_as.data();
  }
  try {
    app.parse(int(args.size()), args.data());
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kExitPassed : kExitUsage;
  }
  if (c.list && (c.manifest == "json" || c.manifest == "text")) {
    fmt::print(stderr, "mpexec: --list takes its format after '=': --list={}\n", c.manifest);
    return kExitUsage;
  }
  if (c.list && c.manifest.empty() && !c.json.empty()) {
    fmt::print(stderr, "mpexec: --json takes the report's file (here '{}'); for the plan as JSON use --list=json or --list --json -\n",
               c.json);
    return kExitUsage;
  }
  if (c.list) {
    // --list --json F writes the plan as JSON to F, as a run writes its report there ('-': stdout, instead
    // of the text). The other reports are a run's, which --list does not make: said, not silently skipped
    // (wrappers that always pass them keep working).
    for (auto [flag, value] : {std::pair{"--junit", &c.junit}, {"--html", &c.html}, {"--trace", &c.trace}, {"--report-dir", &c.report_dir}})
      if (!value->empty()) fmt::print(stderr, "mpexec: warning: --list runs nothing, so {} writes no report (--list --json F writes the plan)\n", flag);
  }
  if (std::string err = unexpectedArguments(app, app.remaining(), c.manifest); !err.empty()) {
    fmt::print(stderr, "mpexec: {}\n", err);
    return kExitUsage;
  }
  if (fail_fast) c.max_fail = 1;
  if (!shard.empty()) {
    if (std::string err = parseShard(shard, c.shard); !err.empty()) {
      fmt::print(stderr, "mpexec: {}\n", err);
      return kExitUsage;
    }
  }
  if (!resource_spec.empty()) {
    auto text = readInputFile(resource_spec);
    auto counts = text.ok() ? parseResourceSpec(*text) : Result<ResourceCounts>(text.error());
    if (!counts.ok()) {
      fmt::print(stderr, "mpexec: --resource-spec-file: {}\n",
                 printable(text.ok() ? resource_spec + ": " + counts.error().detail : counts.error().message()));
      return kExitUsage;
    }
    for (const auto& [name, n] : *counts) {
      c.resources[name] = n;
      c.resource_origins[name] = "--resource-spec-file " + resource_spec;
    }
  }
  if (!resources.empty()) {
    auto counts = parseResourceCounts(resources);
    if (!counts.ok()) {
      fmt::print(stderr, "mpexec: --resources: {}\n", counts.error().detail);
      return kExitUsage;
    }
    for (const auto& [name, n] : *counts) {
      c.resources[name] = n;
      c.resource_origins[name] = "--resources";
    }
  }
  if (c.repeat > 1 && c.until_fail > 0) {
    fmt::print(stderr, "mpexec: --repeat and --until-fail exclude each other\n");
    return kExitUsage;
  }
  if (std::string err = applyShardEnvironment(c); !err.empty()) {
    fmt::print(stderr, "mpexec: {}\n", err);
    return kExitUsage;
  }
  if (quiet && verbose) {
    fmt::print(stderr, "mpexec: -q and -v exclude each other\n");
    return kExitUsage;
  }
  if (c.seed && !c.shuffle) {
    fmt::print(stderr, "mpexec: --seed goes with --shuffle\n");
    return kExitUsage;
  }
  static const std::map<std::string, OutputMode> modes = {
      {"errors", OutputMode::Errors}, {"all", OutputMode::All}, {"none", OutputMode::None}, {"streamed", OutputMode::Streamed}};
  c.output = modes.at(output);
  c.no_tests = no_tests == "fail" ? NoTests::Fail : no_tests == "warn" ? NoTests::Warn : NoTests::Pass;
  c.verbosity = quiet ? 0 : verbose ? 2 : 1;
  c.color = color == "always" ? ColorMode::Always : color == "never" ? ColorMode::Never : ColorMode::Auto;
  if (argc > 0) c.program = argv[0];
  return -1;
}

}  // namespace mpexec
