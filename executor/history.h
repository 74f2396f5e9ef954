#pragma once
// What earlier runs left in the state directory (DESIGN §6): durations and last failures.

#include <cstdint>
#include <string>
#include <unordered_map>

#include "sandbox/result.h"

namespace mpexec {

struct TestHistory {
  int64_t duration_us = -1;  ///< -1: never measured
  bool failed = false;       ///< failed in the last run that ran it
};

class History {
 public:
  /// Reads `path` (a missing file is an empty history; a corrupt one is an error).
  static Result<History> load(const std::string& path);
  /// Writes atomically: a temporary file in the same directory, fsync, then rename.
  Result<void> save(const std::string& path) const;

  const TestHistory* find(const std::string& test) const;
  void record(const std::string& test, TestHistory h) { tests_[test] = h; }
  const std::unordered_map<std::string, TestHistory>& tests() const { return tests_; }

 private:
  std::unordered_map<std::string, TestHistory> tests_;
};

}  // namespace mpexec
