#pragma once
// Running the ctest program of the PATH for `mpexec import ctest`: the tests it lists, and what its version
// says of its regular expressions.

#include <string>

#include "sandbox/result.h"

namespace mpexec {

/// Runs `ctest --show-only=json-v1 [-C config]` in `build_dir` (ctest's stderr goes to ours) and returns
/// its stdout. Fails when ctest cannot be started or exits non-zero.
Result<std::string> ctestShowOnly(const std::string& build_dir, const std::string& config);

/// How many groups the regular expressions of the ctest in PATH may hold, from `ctest --version` (run in
/// `build_dir`): kCtestMaxGroupsBefore326 before CMake 3.26, kCtestMaxGroups otherwise or when unknown.
int ctestMaxRegexGroups(const std::string& build_dir);

}  // namespace mpexec
