#pragma once
// `mpexec import gtest BIN...`: a manifest with one test per enabled GoogleTest case, the same tests a
// {"gtest": BIN} entry expands into (DESIGN §2), written out so that they can be edited or grouped.

#include <string>
#include <vector>

#include "executor/gtest_list.h"
#include "sandbox/result.h"

namespace mpexec {

struct GtestImport {
  std::string manifest;               ///< the manifest's JSON text, ending in a newline
  std::vector<std::string> warnings;  ///< one line each, for stderr
};

enum class GtestLayout {
  OneProcessPerCase,  ///< a test per case, each with its own --gtest_filter
  BatchPerSuite,      ///< a serial batch group per suite; its cases run in one process (--batch)
};

/// Lists every binary (relative paths are made absolute, names without '/' are searched in PATH) and
/// writes one test per case: {"name": "<basename>.<Suite>.<Case>", "cmd": [BIN, "--gtest_filter=Suite.Case"]}.
/// A binary that cannot be listed is kept as a {"gtest": BIN} entry, which becomes one failing test at run
/// time if it still cannot be listed, and is named in a warning. Fails when two binaries share a basename,
/// since their tests' names would collide.
/// With BatchPerSuite, each suite becomes a group "<basename>.<Suite>" (made a valid group name) with
/// {"strategy": "serial", "batch": {"cmd": [BIN, "--gtest_filter={ids::}", "--gtest_output=xml:{junit}"],
/// "lines": ...}}, and each case {"name": "<basename>.<Suite>.<Case>", "group": ..., "id": "Suite.Case"}.
Result<GtestImport> importGtest(const std::vector<std::string>& bins, const GtestListOptions& opts = {},
                                GtestLayout layout = GtestLayout::OneProcessPerCase);

/// The subtool's command line: `import gtest [--batch] BIN...` (argv[0] is "gtest"). Returns the exit code.
int importGtestMain(int argc, char** argv);

}  // namespace mpexec
