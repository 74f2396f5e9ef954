#pragma once
// The manifest (DESIGN §2): parsed, validated and with every inherited value resolved.

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "executor/gtest_list.h"
#include "executor/output_rules.h"
#include "executor/resources.h"
#include "sandbox/policy.h"
#include "sandbox/result.h"

namespace mpexec {

enum class Strategy { Free, Serial, IsolatedFree, IsolatedSerial };

/// "free", "serial", "isolated_free", "isolated_serial".
const char* strategyName(Strategy s);
/// The inverse of strategyName(); none for any other text.
std::optional<Strategy> strategyFromName(std::string_view name);
/// A test name is not empty, and valid UTF-8 without a control character (isControlFree()): names reach
/// terminals, file names and reports.
bool isValidTestName(std::string_view name);
bool isIsolated(Strategy s);
/// Serial strategies run a whole group in one unit.
bool isSerial(Strategy s);

using EnvMap = std::map<std::string, std::string>;

/// Values that cascade defaults → group → test, resolved.
struct Settings {
  double timeout_s = 60;
  EnvMap env;
  std::string cwd;  ///< absolute
  sandbox::Policy sandbox;
};

/// One of batch.lines: a regular expression in RE2's syntax (linear in the line, whatever a test prints)
/// whose first capture group is a test's id.
using LinePattern = OutputPattern;

/// How a batch process's output lines report tests (docs/manifest.md, "Batch groups"); each optional.
struct BatchLines {
  std::optional<LinePattern> started, pass, fail, skip, error;
  bool any() const { return started || pass || fail || skip || error; }
};

/// A group's batch command: one process runs several of its tests (docs/executor.md, "Batch units").
struct BatchSpec {
  std::vector<std::string> cmd;  ///< cmd[0] resolved; placeholders checked (executor/batch_command.h)
  BatchLines lines;
  /// "pytest": cmd is `PYTHON -m pytest ...`, run in a fork of a preloaded interpreter where one can be
  /// (executor/preload.h); empty: exec'd.
  std::string preload;
};

struct GroupSpec {
  std::string name;
  Strategy strategy = Strategy::Free;
  std::vector<std::string> setup;     ///< empty: none; cmd[0] resolved like a test's
  std::vector<std::string> teardown;  ///< empty: none
  Settings settings;                  ///< defaults → group; setup and teardown run with these
  ResourceCounts resources;           ///< what its setup and teardown need, and its tests by default
  std::optional<BatchSpec> batch;     ///< any strategy; a free group's units hold one test each
};

struct TestSpec {
  std::string name;
  std::vector<std::string> cmd;  ///< cmd[0] resolved against the manifest directory when it has a '/'; empty
                                 ///< for a test of a batch group
  std::string id;                ///< in a batch group: what its command is given (default: the name); else empty
  std::string group;             ///< empty: no group (free)
  Strategy strategy = Strategy::Free;
  Settings settings;             ///< defaults → group → test
  std::optional<int> skip_exit_code = 77;  ///< the exit code that means SKIP; none: no code does
  bool will_fail = false;        ///< inverted outcome (CTest WILL_FAIL)
  OutputRules output_rules;      ///< pass_regex, fail_regex, skip_regex (CTest's *_REGULAR_EXPRESSION)
  ResourceCounts resources;      ///< what it needs: its group's, overridden key by key by its own
  /// CTest's RESOURCE_GROUPS ("resource_groups"), which also set `resources` (one instance per group
  /// and resource); its command is told them in CTEST_RESOURCE_GROUP_* too. Empty: none given.
  ResourceGroups resource_groups;
  std::vector<std::string> labels;
  std::string gtest_suite;       ///< GoogleTest suite of a test running one case (gtestSuiteOf), or ""
  std::string json_pointer;      ///< where it was declared, e.g. "/tests/3"
};

struct Manifest {
  std::string path;  ///< as given
  std::string dir;   ///< absolute directory of the manifest
  std::string digest;  ///< hex digest of the file's bytes
  ResourceCounts resources;  ///< how many of each exist: the manifest's "resources", then --resources
  std::map<std::string, GroupSpec> groups;  ///< every group named anywhere
  std::vector<TestSpec> tests;              ///< manifest order, gtest entries expanded
};

/// Overrides from the command line that apply while resolving.
struct ManifestOptions {
  std::optional<double> default_timeout_s;  ///< --timeout: replaces the built-in 60 s default
  /// How long one `BIN --gtest_list_tests` of a {"gtest": BIN} entry may take before it is killed and
  /// the entry becomes one failing test.
  std::chrono::milliseconds gtest_list_timeout{30000};
  /// Lists the cases of a {"gtest": BIN} entry (`bin` resolved) whose tests get `settings`; `opts` holds
  /// their cwd, their complete environment (mpexec's with theirs over it) and gtest_list_timeout. Empty:
  /// listGtestCases on this host, as the invoking user. A sandboxed run lists in sandbox units
  /// (executor/listing_units.h); tests and fuzzers pass a fake.
  std::function<Result<std::vector<std::string>>(const std::string& bin, const GtestListOptions& opts,
                                                 const Settings& settings)>
      list_gtest;
  /// --resources: how many of each exist, replacing the manifest's count of the same name.
  ResourceCounts resources;
  /// Per name in `resources`, the option that set it, for messages; "--resources" when not given.
  std::map<std::string, std::string> resource_origins;
};

/// Reads, parses and validates the whole manifest. The Error's message says file, line:column or JSON
/// pointer, and what was expected, e.g. "m.json: /tests/2/cmd: expected a non-empty array of strings".
/// {"gtest": BIN} entries run `BIN --gtest_list_tests` (each bounded by opts.gtest_list_timeout); the
/// schema, the cascade and every rule are in docs/manifest.md.
Result<Manifest> loadManifest(const std::string& path, const ManifestOptions& opts = {});

/// Same, from text already in memory (`path` is used for messages and for resolving relative paths).
Result<Manifest> parseManifest(const std::string& text, const std::string& path,
                               const ManifestOptions& opts = {});

}  // namespace mpexec
