#pragma once
// Everything the command line says, parsed (executor/cli.cc) before anything runs.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "executor/resources.h"

namespace mpexec {

enum class OutputMode { Errors, All, None, Streamed };
/// --no-tests: what a selection that matches no test makes of the run.
enum class NoTests { Fail, Warn, Pass };
/// --color: SGR colours on stdout.
enum class ColorMode { Auto, Always, Never };
/// --list (text) or --list=json.
enum class ListFormat { Text, Json };

struct Config {
  std::string program = "mpexec";  ///< argv[0], for the rerun commands mpexec prints
  std::string manifest;
  int np = 0;  ///< 0: CPU count
  std::optional<double> timeout_s;
  double kill_grace_s = 2;
  std::string filter, exclude;
  std::vector<std::string> labels;          ///< -L/--label: every one must match one of a test's labels
  std::vector<std::string> exclude_labels;  ///< --exclude-label: a test is left out when every one matches
  bool list = false;
  ListFormat list_format = ListFormat::Text;
  bool shuffle = false;
  std::optional<uint64_t> seed;
  int max_fail = 0;
  int retries = 0;
  int repeat = 1;
  int until_fail = 0;  ///< 0: off; else repeat up to N times, stopping after an iteration with a failure
  bool rerun_failed = false;
  NoTests no_tests = NoTests::Fail;  ///< Fail: exit 4 (kExitNoTests) and say why
  std::optional<std::pair<int, int>> shard;
  std::optional<int> shard_total;   ///< --shard-total: N for JOB_COMPLETION_INDEX (executor/shard_env.h)
  std::string shard_by_durations;    ///< balance the shards by this state file or JSON report
  OutputMode output = OutputMode::Errors;
  std::string json, junit, trace, html, report_dir;
  std::string state_dir;  ///< default: <manifest dir>/.mpexec
  int keep_runs = 10;     ///< run directories kept in <state>/runs, this run's included; 0: all
  bool no_sandbox = false;
  std::string sync_bind;
  ResourceCounts resources;  ///< --resource-spec-file, then --resources: how many of each exist, over the manifest's
  std::map<std::string, std::string> resource_origins;  ///< per name in `resources`: the option that set it
  int verbosity = 1;  ///< 0 -q, 1 default, 2 -v
  ColorMode color = ColorMode::Auto;
  double slow_s = 60;  ///< --slow: a SLOW line each time a test has run this long again; 0: none
};

/// Parses argv into `config`. Returns -1 to go on, or the exit code to leave with (0 after --help or
/// --version, 2 after a usage error, with the message already printed).
int parseCommandLine(int argc, char** argv, Config& config);

/// Runs the manifest as `config` says and returns the exit code (DESIGN §6).
int run(const Config& config);

}  // namespace mpexec
