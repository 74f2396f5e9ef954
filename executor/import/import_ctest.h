#pragma once
// `mpexec import ctest BUILD_DIR [-C CONFIG]`: CTest's tests (from `ctest --show-only=json-v1`) as a
// manifest. docs/ci.md says how each test property maps, and why fixtures become ordered serial groups.

#include <string>
#include <string_view>
#include <vector>

#include "executor/import/ctest_regex.h"
#include "sandbox/result.h"

namespace mpexec {

struct CtestImportOptions {
  std::string build_dir;        ///< absolute; made writable inside the sandbox
  double default_timeout_s = 1500;  ///< for tests without TIMEOUT, as CTest's DART_TESTING_TIMEOUT
  /// How many groups CTest's regular expressions may hold (executor/import/ctest_regex.h): the ctest
  /// that listed the tests decides.
  int max_regex_groups = kCtestMaxGroups;
};

struct CtestImport {
  std::string manifest;               ///< the manifest's JSON text, ending in a newline
  std::vector<std::string> disabled;  ///< DISABLED tests, left out
  std::vector<std::string> warnings;  ///< one line per property that cannot be honoured, naming the tests
};

/// Maps CTest's json-v1 test list onto a manifest:
/// - command → cmd, WORKING_DIRECTORY → cwd, ENVIRONMENT → env, TIMEOUT → timeout, LABELS → labels,
///   WILL_FAIL → will_fail, SKIP_RETURN_CODE → skip_exit_code (null without it: 77 is no skip to CTest),
///   PASS_, FAIL_ and SKIP_REGULAR_EXPRESSION → pass_regex, fail_regex and skip_regex, rewritten from
///   CTest's syntax (ctestRegexToRe2); DISABLED tests are left out;
/// - tests linked by a shared RESOURCE_LOCK or fixture (FIXTURES_SETUP/REQUIRED/CLEANUP) join one serial
///   group (union-find), ordered setup → users → cleanup (and by DEPENDS inside the group);
/// - RUN_SERIAL makes its test's group isolated_serial (a group of its own when it has none).
/// Every test CTest lists (and does not disable) comes out as a test the manifest accepts:
/// - one whose command, or WORKING_DIRECTORY, would not run (no command, an empty program, a NUL in an
///   argument, a program that is missing, not executable or not in its PATH, a directory that does not
///   exist) becomes a test that fails saying why, with a warning;
/// - a name that is empty, has control characters or is CTest's name of an earlier test too is renamed,
///   with a warning (the first test of a name keeps it; others get "#2", "#3"...);
/// - an ENVIRONMENT entry or a label with a NUL character is left out, with a warning.
/// Relative paths are made absolute (a WORKING_DIRECTORY against the build directory, a program against
/// its working directory). Warnings show control characters as "\xNN". Fails only when the text is not
/// CTest's json-v1.
Result<CtestImport> importCtestJson(std::string_view json_text, const CtestImportOptions& opts);

/// The subtool's command line: `import ctest BUILD_DIR [-C CONFIG] [--timeout S]` (argv[0] is "ctest").
int importCtestMain(int argc, char** argv);

}  // namespace mpexec
