#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "executor/outcome.h"
#include "executor/resources.h"

namespace mpexec {

/// What happened to one test: everything a report says about it.
struct TestRecord {
  Outcome outcome = Outcome::NotRun;
  std::optional<int> exit_code;
  std::optional<int> signal;
  std::string reason;
  std::string unit;        ///< unit id; empty when the test never ran
  int slot = -1;
  int64_t start_us = -1;   ///< since the run started
  int64_t end_us = -1;
  int attempts = 0;
  std::string log;         ///< path of the captured output, relative to the manifest directory
  ResourceInstances resources = {};  ///< the resource instances its command was given (MPEXEC_RESOURCE_<NAME>)
  std::string note;        ///< a batch test's word beside the outcome ("xfail"), from its live report
  std::vector<TestRecord> earlier;  ///< failed attempts before this one (--retries), oldest first
};

}  // namespace mpexec
