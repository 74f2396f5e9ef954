#pragma once
// Verdicts from what a test printed: the pass, fail and skip patterns of a test (CTest's
// PASS_REGULAR_EXPRESSION, FAIL_REGULAR_EXPRESSION and SKIP_REGULAR_EXPRESSION) and the output as they
// read it. How they combine with the exit code is classify()'s (executor/outcome.h); docs/manifest.md
// has the rules.

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sandbox/result.h"

namespace re2 {
class RE2;
}

namespace mpexec {

/// One pattern as the manifest wrote it, compiled.
struct OutputPattern {
  std::string text;
  std::shared_ptr<const re2::RE2> re;  ///< shared by every test that names the same text
};

struct OutputRules {
  std::vector<OutputPattern> pass;  ///< one must match, and then the exit code does not matter
  std::vector<OutputPattern> fail;  ///< one matching fails the test
  std::vector<OutputPattern> skip;  ///< one matching makes it SKIP
  bool empty() const { return pass.empty() && fail.empty() && skip.empty(); }
};

/// Compiles `text` in RE2's syntax, byte by byte (Latin-1: `.` is one byte), `.` not matching a newline,
/// `^` and `$` the start and end of the whole output unless the pattern says `(?m)`. The error's
/// message is RE2's reason, e.g. "missing ): (a".
Result<OutputPattern> compileOutputPattern(const std::string& text);

/// The output the patterns read, made from the captured bytes as CTest reads a test's output: a line ends
/// at "\n" or at a NUL byte, the carriage returns at the end of a line are dropped, every line (the last
/// one too) ends with "\n", and a line holding a CTest tag (<CTestDetails>...</CTestDetails> or
/// <CTestLabel>...</CTestLabel>) is left out.
std::string outputForRules(std::string_view captured);

/// A pattern that matched, and the line (of outputForRules()) where its match starts, cut to 200 bytes and
/// made printable() (executor/printable.h).
struct PatternMatch {
  const OutputPattern* pattern = nullptr;
  std::string line;
};

/// The first of `patterns` that matches somewhere in `output`; none when none does.
std::optional<PatternMatch> firstMatch(const std::vector<OutputPattern>& patterns, std::string_view output);

/// The largest output the rules read: a longer one makes the test ERROR rather than be judged on a part.
constexpr std::size_t kMaxRuleOutputBytes = std::size_t(256) << 20;

/// Reads the captured output `name` in the directory `dir_fd` (not following a symlink), for the rules.
Result<std::string> readOutputForRules(int dir_fd, const std::string& name);

}  // namespace mpexec
