#pragma once
// The Trace Event JSON report (DESIGN §7, docs/reports.md): the run as Perfetto and chrome://tracing
// draw it. One track per slot, a "phases" track for the isolated windows and barrier waits, a "sync"
// track for the sync service's operations.

#include <cstdint>
#include <string>
#include <vector>

#include "executor/manifest.h"
#include "executor/plan.h"
#include "executor/reports/report_json.h"
#include "executor/scheduler.h"

namespace mpexec {

/// One phase of the plan on the run's clock.
struct PhaseSpan {
  size_t phase = 0;   ///< index into Plan::phases
  int64_t start_us = 0, end_us = 0;
  bool ran = false;   ///< false when none of its units started (interrupted or stopped early)
};

/// One slice on a slot's track.
struct Slice {
  enum class Kind { Test, Attempt, Unit, SetUp, Teardown };
  Kind kind = Kind::Test;
  size_t index = 0;  ///< Test and Attempt: into Manifest::tests; Unit, SetUp, Teardown: into Plan::units
  int slot = 0;
  int attempt = 1;
  int64_t start_us = 0, end_us = 0;
  const TestRecord* record = nullptr;  ///< Test and Attempt
};

/// The run laid out on slots × time, shared by the trace and the HTML report.
struct Timeline {
  int slots = 1;
  int64_t span_us = 1;  ///< the run's wall time, or the last slice's end if later
  /// Exactly one Test slice per test that was given a slot (a test whose unit failed before it could
  /// start sits at its unit's end with no duration); earlier failed attempts (--retries) as Attempt
  /// slices; every unit run, and its set-up (sandbox and group setup, until its first test) and teardown
  /// (after its last test) where they take time.
  std::vector<Slice> slices;
  std::vector<PhaseSpan> phases;
  size_t off_timeline = 0;  ///< tests that never got a slot
  /// Every resource instance some unit held, as (resource, instance), in that order: a row each.
  std::vector<std::pair<std::string, int>> instances;
};

/// The row of `instance` of `resource` in Timeline::instances, or -1.
int instanceRow(const Timeline& tl, const std::string& resource, int instance);

/// Lays the run out. Phases are where their unit runs (or, without those, their tests) were, widened to
/// the barrier wait that closed them; barriers are matched by time, so repeated iterations work too.
Timeline layoutTimeline(const Plan& plan, const ScheduleResult& result, const RunInfo& info);

/// The track (Trace Event "tid") of slot `s` is s + 1; the phases and sync tracks come after the slots,
/// then one track per resource instance (Timeline::instances' order).
struct TraceTracks {
  int slots = 1;
  int slotTid(int slot) const { return slot + 1; }
  int phasesTid() const { return slots + 1; }
  int syncTid() const { return slots + 2; }
  int instanceTid(int row) const { return slots + 3 + row; }
};

/// The trace as text: {"traceEvents": [...], "displayTimeUnit": "ms", "otherData": {...}}. Every event
/// has ph, ts (µs since the run started), pid and tid. Each test that started is one complete event
/// ("ph": "X", cat "test") on its slot's track; a test that never started has none (the JSON report
/// still lists it). A unit that held resources is also a slice (cat "resource") on each instance's track,
/// and each wait for resources (ResourceWait) an async slice ("ph" "b" then "e", cat "resource_wait").
std::string traceReport(const Manifest& m, const Plan& plan, const ScheduleResult& result, const RunInfo& info);

}  // namespace mpexec
