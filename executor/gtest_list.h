#pragma once
// Discovery of GoogleTest cases: `BIN --gtest_list_tests`, run with a bounded wait, and its listing
// parsed into "Suite.Case" names. Used by the manifest's {"gtest": BIN} entries (in a sandbox unit when the
// run has one: executor/listing_units.h) and `mpexec import gtest`.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sandbox/result.h"

namespace mpexec {

struct GtestListOptions {
  std::string cwd;                              ///< empty: mpexec's own working directory
  std::optional<std::vector<std::string>> env;  ///< complete KEY=VALUE environment; none: inherit mpexec's
  std::chrono::milliseconds timeout{30000};     ///< then the binary (and its process group) is killed
};

/// The enabled cases of a `--gtest_list_tests` listing, as "Suite.Case" in listing order. Typed and
/// parameterized comments ("  # TypeParam = int") are dropped; a suite or case whose name starts with
/// DISABLED_ (or has a "/DISABLED_" part, as gtest's own filter says) is left out. Lines that are neither
/// a suite ("Name.") nor an indented case under one, such as gtest_main's "Running main() from ...", are
/// ignored. Fails, naming the line, when an enabled case's suite or name holds a control character or
/// is not valid UTF-8: the names become test names, which terminals show and reports keep.
Result<std::vector<std::string>> parseGtestListing(std::string_view listing);

/// Runs `bin --gtest_list_tests` (bin without '/' is searched in PATH) with stdin from /dev/null and
/// returns its enabled cases. Fails, with a message saying why, when the binary cannot be started, exits
/// non-zero or by a signal, or outlives `opts.timeout`; it never leaves a process behind. The Error's
/// message says why without repeating `bin`, e.g. "exited with status 1: <first line of its stderr>".
Result<std::vector<std::string>> listGtestCases(const std::string& bin, const GtestListOptions& opts);
Result<std::vector<std::string>> listGtestCases(const std::string& bin);

/// What a `--gtest_list_tests` that ended with `wait_status` gave: the enabled cases of `out` when it
/// exited 0, else why not ("killed by signal 11 (Segmentation fault)", "exited with status 1: <the first
/// line of `err`>"). listGtestCases() and the listing in a sandbox unit (executor/listing_units.h) say the same.
Result<std::vector<std::string>> gtestListingResult(int wait_status, std::string_view out, const std::string& err);

/// The GoogleTest suite a command runs one case of: "Suite" (or "Inst/Suite") when one argument is
/// `--gtest_filter=Suite.Case` naming a single case (no '*', '?', ':' or negative part); empty otherwise.
/// So `mpexec import gtest`, CTest's gtest_add_tests and gtest_discover_tests and a hand-written
/// manifest all say which suite a test belongs to.
std::string gtestSuiteOf(const std::vector<std::string>& cmd);

}  // namespace mpexec
