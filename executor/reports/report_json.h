#pragma once
// The JSON report (DESIGN §7): the record every other tool and check reads.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "executor/manifest.h"
#include "executor/plan.h"
#include "executor/scheduler.h"

namespace mpexec {

/// One sync operation, on the run's clock.
struct SyncOp {
  std::string unit, op, key;
  int status = 0;
  std::string result;
  int64_t start_us = 0, end_us = 0;
};

struct RunInfo {
  std::string run_id;
  int np = 1;
  std::optional<uint64_t> seed;
  std::optional<std::pair<int, int>> shard;
  std::string sandbox;  ///< "namespaces" or "none"
  std::string sandbox_detail;
  std::vector<std::string> limits;
  int64_t wall_us = 0;
  int exit_code = 0;
  std::vector<std::string> warnings;
  std::vector<SyncOp> sync_ops;
  uint64_t sync_ops_dropped = 0;
};

/// The report as text. Tests appear in manifest order; every planned test appears exactly once.
std::string jsonReport(const Manifest& m, const Plan& plan, const ScheduleResult& result, const RunInfo& info);

}  // namespace mpexec
