#pragma once
// The results endpoints' side of the batch protocol (docs/executor.md, "Batch units"): what a batch process
// reports about its tests, handed to whoever runs batch units (the executor) through ResultSink. The sync
// service knows no test, no unit's batch: the sink decides what an id means.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace mpexec::sync {

enum class ResultOutcome { Pass, Fail, Skip, Error };

/// "pass", "fail", "skip", "error" (the protocol's words).
const char* resultOutcomeName(ResultOutcome o);
std::optional<ResultOutcome> resultOutcomeFromName(std::string_view name);

/// The body of POST /v1/results/finished, checked.
struct FinishedResult {
  std::string id;
  ResultOutcome outcome = ResultOutcome::Pass;
  std::optional<double> duration_s;  ///< >= 0
  std::string message;               ///< one line, at most kMaxResultMessage bytes
  std::string output;
  std::string note;                  ///< at most kMaxResultNote printable bytes
};

inline constexpr size_t kMaxResultMessage = 4096;
inline constexpr size_t kMaxResultNote = 64;

enum class ResultStatus {
  Ok,
  NoBatch,          ///< 404: the unit runs no batch process now
  UnknownId,        ///< 404: the id is not one of its process's
  AlreadyFinished,  ///< 409: the id was finished already in this process
};

/// The bodies of POST /v1/results/started and /finished; false with a message for a 400. Unknown keys are
/// ignored; `message` is made one line and cut, `note` is checked.
bool parseStartedBody(const std::string& body, std::string* id, std::string* error);
bool parseFinishedBody(const std::string& body, FinishedResult* out, std::string* error);

/// Takes the results of batch processes. Called from the service's threads, concurrently; an answer is
/// sent to the process only after the call returns, so a result that got Ok is never lost.
class ResultSink {
 public:
  virtual ~ResultSink() = default;
  virtual ResultStatus started(const std::string& unit, const std::string& id) = 0;
  virtual ResultStatus finished(const std::string& unit, FinishedResult result) = 0;
};

}  // namespace mpexec::sync
