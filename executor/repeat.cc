#include "executor/repeat.h"

#include <fmt/format.h>

namespace mpexec {

Combined combineIterations(const Manifest& m, const Plan& plan, std::vector<ScheduleResult> iterations) {
  Combined c;
  if (iterations.size() == 1) {
    c.manifest = m;
    c.plan = plan;
    c.result = std::move(iterations[0]);
    return c;
  }
  c.manifest.path = m.path;
  c.manifest.dir = m.dir;
  c.manifest.digest = m.digest;
  c.manifest.groups = m.groups;
  c.manifest.resources = m.resources;
  c.plan.resources = plan.resources;
  for (size_t k = 0; k < iterations.size(); ++k) {
    ScheduleResult& it = iterations[k];
    const size_t test_base = c.manifest.tests.size();
    const size_t unit_base = c.plan.units.size();
    for (const TestSpec& t : m.tests) {
      TestSpec copy = t;
      copy.name = fmt::format("{}#{}", t.name, k + 1);
      c.manifest.tests.push_back(std::move(copy));
    }
    for (const Unit& u : plan.units) {
      Unit copy = u;
      copy.id = fmt::format("{}#{}", u.id, k + 1);
      for (size_t& t : copy.tests) t += test_base;
      c.plan.units.push_back(std::move(copy));
    }
    for (const Phase& p : plan.phases) {
      Phase copy = p;
      for (size_t& u : copy.units) u += unit_base;
      c.plan.phases.push_back(std::move(copy));
    }
    for (size_t t : plan.tests) c.plan.tests.push_back(t + test_base);
    for (size_t t : plan.unsharded_tests) c.plan.unsharded_tests.push_back(t + test_base);
    for (TestRecord& r : it.records) {
      if (!r.unit.empty()) r.unit = fmt::format("{}#{}", r.unit, k + 1);
      c.result.records.push_back(std::move(r));
    }
    c.result.unit_problems.insert(c.result.unit_problems.end(), it.unit_problems.begin(), it.unit_problems.end());
    c.result.unit_leaks.insert(c.result.unit_leaks.end(), it.unit_leaks.begin(), it.unit_leaks.end());
    c.result.barriers.insert(c.result.barriers.end(), it.barriers.begin(), it.barriers.end());
    for (UnitRun run : it.unit_runs) {
      run.unit += unit_base;
      c.result.unit_runs.push_back(run);
    }
    for (ResourceWait wait : it.resource_waits) {
      wait.unit += unit_base;
      c.result.resource_waits.push_back(std::move(wait));
    }
    c.result.interrupted |= it.interrupted;
    c.result.stopped_early |= it.stopped_early;
    c.result.failures += it.failures;
  }
  return c;
}

}  // namespace mpexec
