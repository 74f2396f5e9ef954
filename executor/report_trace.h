#pragma once
// The Trace Event JSON report (DESIGN §7, docs/reports.md): the run as Perfetto and chrome://tracing
// draw it. One track per slot, a "phases" track for the isolated windows and barrier waits, a "sync"
// track for the sync service's operations.

#include <cstdint>
#include <string>
#include <vector>

#include "executor/manifest.h"
#include "executor/plan.h"
#include "executor/report_json.h"
#include "executor/scheduler.h"

namespace mpexec {

/// One phase of the plan on the run's clock.
struct PhaseSpan {
  size_t phase = 0;   ///< index into Plan::phases
  int64_t start_us = 0, end_us = 0;
  bool ran = false;   ///< false when none of its units started (interrupted or stopped early)
};

/// When each phase ran. A phase starts where the barrier before it ended and ends where the barrier
/// after it ended; without such a barrier (the last phase, or a run that stopped) its tests' times say.
/// Shared with the HTML report.
std::vector<PhaseSpan> phaseSpans(const Plan& plan, const ScheduleResult& result, int64_t wall_us);

/// The track (Trace Event "tid") of slot `s` is s + 1; the phases and sync tracks come after the slots.
struct TraceTracks {
  int slots = 1;
  int slotTid(int slot) const { return slot + 1; }
  int phasesTid() const { return slots + 1; }
  int syncTid() const { return slots + 2; }
};

/// The trace as text: {"traceEvents": [...], "displayTimeUnit": "ms", "otherData": {...}}. Every event
/// has ph, ts (µs since the run started), pid and tid. Each test that started is one complete event
/// ("ph": "X", cat "test") on its slot's track; a test that never started has none (the JSON report
/// still lists it).
std::string traceReport(const Manifest& m, const Plan& plan, const ScheduleResult& result, const RunInfo& info);

}  // namespace mpexec
