#pragma once
// Every report a run writes (DESIGN §7), from one input.

#include <string>
#include <vector>

#include "executor/atomic_file.h"
#include "executor/config.h"
#include "executor/manifest.h"
#include "executor/plan.h"
#include "executor/reports/report_json.h"
#include "executor/scheduler.h"

namespace mpexec {

struct ReportInput {
  const Manifest& manifest;
  const Plan& plan;
  const ScheduleResult& result;
  const RunInfo& info;
  std::string log_root;  ///< the records' log paths are relative to this directory
};

/// Writes the JSON report into the run directory, and the reports `config` asks for (--json, --junit,
/// --trace, --html, --report-dir). Returns one message per report that could not be written. With
/// Follow::NoSymlinks every path was resolved before any unit ran (see writeFileAtomic).
std::vector<std::string> writeReports(const ReportInput& in, const Config& config, const std::string& run_dir,
                                      Follow follow = Follow::Symlinks);

}  // namespace mpexec
