#include "executor/scheduler.h"

#include <algorithm>
#include <functional>

namespace mpexec {

namespace {
SchedulerObserver kSilent;
}

Scheduler::Scheduler(const Plan& plan, size_t test_count, UnitRunner& runner, SchedulerOptions opts,
                     SchedulerObserver* observer)
    : plan_(plan), runner_(runner), opts_(std::move(opts)), observer_(observer ? observer : &kSilent) {
  result_.records.resize(test_count);
  result_.unit_problems.resize(plan.units.size());
  unit_slot_.assign(plan.units.size(), -1);
  for (const Unit& u : plan.units)
    for (size_t t : u.tests) result_.records[t].unit = u.id;
}

void Scheduler::handle(const RunnerEvent& ev, std::vector<int>& free_slots, size_t& running) {
  const Unit& unit = plan_.units[ev.unit];
  switch (ev.kind) {
    case RunnerEvent::Kind::TestStarted: {
      TestRecord& r = result_.records[ev.test];
      r.start_us = ev.at_us;
      r.slot = unit_slot_[ev.unit];
      observer_->testStarted(ev.test, unit.id, r.slot);
      break;
    }
    case RunnerEvent::Kind::TestFinished: {
      TestRecord& r = result_.records[ev.test];
      int64_t started = r.start_us;
      r = ev.record;
      if (r.start_us < 0) r.start_us = started;
      r.unit = unit.id;
      r.slot = unit_slot_[ev.unit];
      if (isFailure(r.outcome)) ++result_.failures;
      observer_->testFinished(ev.test, r);
      break;
    }
    case RunnerEvent::Kind::UnitFinished:
      result_.unit_problems[ev.unit] = ev.problem;
      free_slots.push_back(unit_slot_[ev.unit]);
      std::push_heap(free_slots.begin(), free_slots.end(), std::greater<>());
      --running;
      observer_->unitFinished(ev.unit, ev.problem);
      break;
  }
}

ScheduleResult Scheduler::run(std::function<int64_t()> now_us) {
  std::vector<RunnerEvent> events;
  bool stop_starting = false;
  for (size_t p = 0; p < plan_.phases.size() && !result_.interrupted; ++p) {
    const Phase& phase = plan_.phases[p];
    size_t width = phase.one_at_a_time ? 1 : size_t(std::max(1, opts_.slots));
    // Slots 0..width-1, smallest free first.
    std::vector<int> free_slots;
    for (size_t s = 0; s < width; ++s) free_slots.push_back(int(s));
    std::make_heap(free_slots.begin(), free_slots.end(), std::greater<>());
    size_t next = 0, running = 0;
    int64_t last_start_us = 0;
    for (;;) {
      while (!stop_starting && running < width && next < phase.units.size()) {
        std::pop_heap(free_slots.begin(), free_slots.end(), std::greater<>());
        int slot = free_slots.back();
        free_slots.pop_back();
        size_t u = phase.units[next++];
        unit_slot_[u] = slot;
        ++running;
        last_start_us = now_us();
        runner_.start(u, slot);
      }
      if (running == 0) break;
      events.clear();
      runner_.wait(events);
      for (const RunnerEvent& ev : events) handle(ev, free_slots, running);
      if (opts_.interrupted()) {
        result_.interrupted = true;
        runner_.killAll();
        break;
      }
      if (opts_.max_fail > 0 && result_.failures >= opts_.max_fail && !stop_starting) {
        stop_starting = true;
        result_.stopped_early = true;
      }
    }
    if (p + 1 < plan_.phases.size() && !result_.interrupted && !stop_starting) {
      int64_t end = now_us();
      result_.barriers.push_back({last_start_us, end});
      observer_->barrier(end);
    }
  }
  for (size_t t : plan_.tests) {
    TestRecord& r = result_.records[t];
    if (r.end_us >= 0 || r.outcome != Outcome::NotRun) continue;
    r.outcome = Outcome::NotRun;
    r.reason = result_.interrupted ? "interrupted" : stop_starting ? "not started: --max-fail reached" : "not run";
    if (r.start_us < 0) r.slot = -1;
  }
  return std::move(result_);
}

}  // namespace mpexec
