#pragma once
// The record of every sync operation, for the trace and the reports (DESIGN §5, §7).

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace mpexec::sync {

/// CLOCK_MONOTONIC in nanoseconds: the clock of Operation::start_ns/end_ns. Subtract the run's own start
/// (taken with this function) to place operations on the run's timeline.
int64_t monotonicNanos();

struct Operation {
  std::string unit;    ///< the calling unit
  std::string op;      ///< "board.get", "board.put", "board.del", "board.wait", "board.list", "lock.acquire",
                       ///< "lock.release", "trail.start", "trail.finish", "trail.done", "run", "unit.ended"
  std::string key;     ///< the key, lock or trail name; empty when none
  int status = 0;      ///< the HTTP status answered
  std::string result;  ///< a short word: "ok", "conflict", "timeout", ..., "first", "not_first", "last", ...
  int64_t start_ns = 0;  ///< monotonicNanos() when the request was parsed
  int64_t end_ns = 0;    ///< ... and when its answer was ready (later for waits)
};

/// Thread-safe, bounded: keeps the first `capacity` operations and counts the rest, and of each key its first
/// 256 bytes.
class OperationLog {
 public:
  explicit OperationLog(size_t capacity = 100000) : capacity_(capacity) {}
  void record(Operation op);
  std::vector<Operation> snapshot() const;
  /// Operations not kept because the log was full.
  uint64_t dropped() const;

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  std::vector<Operation> ops_;
  uint64_t dropped_ = 0;
};

}  // namespace mpexec::sync
