#pragma once
// Reading the JUnit XML a batch process writes (docs/executor.md, "Channel 2"): for each of the process's
// ids, the testcase that reports it. Testcases for other ids are counted and dropped as they are read, so
// what a file costs is bounded by the ids, not by the file.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sandbox/result.h"

namespace mpexec {

struct JunitCase {
  enum class Result { Pass, Skip, Fail, Error };
  Result result = Result::Pass;
  std::string message;  ///< the failure/error/skipped element's message attribute, else its text's first
                        ///< line; at most kJunitMaxMessage bytes
  std::string output;   ///< its failure or error text, then <system-out>, then <system-err>; see
                        ///< kJunitMaxCaseOutput
  std::optional<double> time_s;
};

struct JunitFile {
  /// For each id some testcase reports: the worst of them (error, then failure, then pass, then skipped),
  /// the first of equals. A testcase classname=C name=N reports the id equal to "C.N", else "C::N", else "N".
  std::unordered_map<std::string, JunitCase> by_id;
  size_t testcases = 0;  ///< testcases read to their end, kept or not
  size_t ignored = 0;    ///< of them, those that report none of the ids: counted, not kept
  std::string problem;   ///< empty, or why the file was not read to its end, naming it and the line
};

/// A case's output keeps its first this many bytes, then says how many it left out.
inline constexpr size_t kJunitMaxCaseOutput = 4 << 20;
/// A case's message keeps at most this many bytes (cut at a character), as the live channel's does.
inline constexpr size_t kJunitMaxMessage = 4096;
/// Larger files are not read.
inline constexpr size_t kJunitMaxFileBytes = 256 << 20;

/// Parses the JUnit XML `xml` for the testcases that report `ids`; `file` is how a problem names it. A
/// document that is not well-formed keeps the cases completed before the error.
JunitFile parseJunit(std::string_view xml, const std::vector<std::string>& ids, std::string_view file);

/// Reads `name` in the directory `dir_fd` (a unit's output directory, which the unit can write) as
/// parseJunit() does: without following a symlink, only a regular file of at most kJunitMaxFileBytes. None
/// when there is no such file; an Error when there is something else there.
Result<std::optional<JunitFile>> readJunitFile(int dir_fd, const std::string& name, const std::vector<std::string>& ids);

}  // namespace mpexec
