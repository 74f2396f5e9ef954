#pragma once
// --repeat and --until-fail run the whole selection several times, one iteration after another. For the
// reports the iterations are laid side by side as one run, each test of iteration k named "<name>#k".

#include <vector>

#include "executor/manifest.h"
#include "executor/plan.h"
#include "executor/scheduler.h"

namespace mpexec {

struct Combined {
  Manifest manifest;
  Plan plan;
  ScheduleResult result;
};

/// One iteration is returned as it is (names unchanged); several are renamed and concatenated.
Combined combineIterations(const Manifest& m, const Plan& plan, std::vector<ScheduleResult> iterations);

}  // namespace mpexec
