#pragma once
// The executor's side of the results endpoints (sync-service/results.h): which batch process each unit
// runs now and which ids it may report, and the reports taken, for the runner's thread. The service's
// threads call started() and finished(); the runner opens and closes processes and takes the reports.

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "executor/clock.h"
#include "sandbox/unique_fd.h"
#include "sync-service/results.h"

namespace mpexec {

/// A report a batch process made over its sync socket, as the runner gets it.
struct LiveReport {
  std::string unit;
  uint32_t process = 0;
  bool started = false;      ///< else finished
  size_t test = 0;           ///< index into Manifest::tests
  int64_t at_us = 0;         ///< when mpexec received it (RunClock)
  int64_t log_offset = -1;   ///< how much the process had written to its log then (-1: unknown)
  sync::FinishedResult result;  ///< a finish's
};

class BatchBoard : public sync::ResultSink {
 public:
  explicit BatchBoard(const RunClock& clock);

  /// Readable while reports wait to be taken.
  int wakeFd() const { return wake_.get(); }

  /// `unit` now runs its batch process `process`, with these ids (id → test). `log_fd` (borrowed, may be -1)
  /// is its log, whose size stamps each report. Replaces what the unit ran before.
  void open(const std::string& unit, uint32_t process, std::unordered_map<std::string, size_t> ids, int log_fd);
  /// The unit runs no batch process: reports answer 404.
  void close(const std::string& unit);
  /// Every report not yet taken, in the order they came.
  std::vector<LiveReport> take();

  sync::ResultStatus started(const std::string& unit, const std::string& id) override;
  sync::ResultStatus finished(const std::string& unit, sync::FinishedResult result) override;

 private:
  struct Process {
    uint32_t number = 0;
    std::unordered_map<std::string, size_t> ids;
    std::unordered_set<std::string> finished;
    int log_fd = -1;
  };
  /// Checks the id and queues the report; called with mu_ held.
  sync::ResultStatus add(const std::string& unit, const std::string& id, bool started, sync::FinishedResult* result);

  const RunClock& clock_;
  UniqueFd wake_;
  std::mutex mu_;
  std::unordered_map<std::string, Process> running_;  ///< by unit
  std::vector<LiveReport> reports_;
};

}  // namespace mpexec
