#pragma once
// Reading the JUnit XML a batch process writes (docs/executor.md, "Channel 2"): every <testcase>, and
// which of the process's ids each one reports.

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sandbox/result.h"

namespace mpexec {

struct JunitCase {
  enum class Result { Pass, Skip, Fail, Error };  ///< in the order "worst" counts (see matchJunit)
  std::string classname, name;
  Result result = Result::Pass;
  std::string message;  ///< the failure/error/skipped element's message attribute, else its text's first line
  std::string output;   ///< its failure or error text, then <system-out>, then <system-err>
  std::optional<double> time_s;
};

struct JunitFile {
  std::vector<JunitCase> cases;  ///< in document order
  std::string problem;           ///< empty, or why the file was not read to its end ("line 3: ...")
};

/// Each case's output keeps at most this many bytes (its head and tail).
inline constexpr size_t kJunitMaxCaseOutput = 4 << 20;
/// Larger files are not read.
inline constexpr size_t kJunitMaxFileBytes = 256 << 20;

/// Parses JUnit XML. A document that is not well-formed keeps the cases completed before the error.
JunitFile parseJunit(std::string_view xml);

/// Reads `name` in the directory `dir_fd` (a unit's output directory, which the unit can write): without
/// following a symlink, only a regular file of at most kJunitMaxFileBytes. None when there is no such file;
/// an Error when there is something else there.
Result<std::optional<JunitFile>> readJunitFile(int dir_fd, const std::string& name);

/// For each id, the case that reports it: a case matches the id equal to "C.N", else "C::N", else "N" (C
/// its classname, N its name); ids no case matches are absent. Several cases for one id: the worst counts
/// (error, then failure, then pass, then skipped), the first of equals.
std::unordered_map<std::string, const JunitCase*> matchJunit(const JunitFile& file, const std::vector<std::string>& ids);

}  // namespace mpexec
