#pragma once
// CTest's regular expressions (cmsys::RegularExpression: Henry Spencer's syntax, which CTest uses for
// PASS_REGULAR_EXPRESSION, FAIL_REGULAR_EXPRESSION and SKIP_REGULAR_EXPRESSION) rewritten as the
// manifest's output patterns (RE2, byte by byte; executor/output_rules.h) that match the same texts.

#include <string>
#include <string_view>

#include "sandbox/result.h"

namespace mpexec {

/// How many parenthesized groups a CTest regular expression may hold: 31 since CMake 3.26, 9 before.
constexpr int kCtestMaxGroups = 31;
constexpr int kCtestMaxGroupsBefore326 = 9;

/// The RE2 pattern that matches where `ctest_re` matches in CTest. Spencer's syntax knows `^` and `$`
/// (the start and end of the whole output), `.` (any byte, a newline too), `[...]` and `[^...]` (bytes
/// and ranges; no escapes or classes inside), `(...)`, `|`, `*`, `+`, `?`, and `\` before any byte to mean
/// that byte: `\d` is the letter d, and `{`, `}` are plain characters. An expression CTest cannot compile
/// (`*` after nothing, a repeated operand that can be empty, `a**`, unmatched brackets or parentheses, a
/// trailing backslash, a reversed range, more than `max_groups` groups) is an Error whose detail is
/// CTest's own message; CTest never matches such an expression. The text stops at a NUL, as CTest's does.
Result<std::string> ctestRegexToRe2(std::string_view ctest_re, int max_groups = kCtestMaxGroups);

/// An RE2 pattern that matches nothing, for a CTest expression that never matches.
inline constexpr const char* kNeverMatches = "[^\\x00-\\x{ff}]";

}  // namespace mpexec
