#include "executor/scheduler.h"

#include <algorithm>
#include <functional>

namespace mpexec {

namespace {
SchedulerObserver kSilent;
}

Scheduler::Scheduler(const Plan& plan, size_t test_count, UnitRunner& runner, SchedulerOptions opts,
                     SchedulerObserver* observer)
    : plan_(plan),
      runner_(runner),
      opts_(std::move(opts)),
      observer_(observer ? observer : &kSilent),
      resources_(plan.resources) {
  result_.records.resize(test_count);
  result_.unit_problems.resize(plan.units.size());
  result_.unit_leaks.resize(plan.units.size());
  unit_slot_.assign(plan.units.size(), -1);
  job_of_unit_.resize(plan.units.size());
  run_of_unit_.resize(plan.units.size());
  started_us_.assign(test_count, -1);
  waits_.assign(plan.units.size(), ResourceWait{.start_us = -1});
  for (const Unit& u : plan.units)
    for (size_t t : u.tests) result_.records[t].unit = u.id;
}

void Scheduler::handle(const RunnerEvent& ev, std::vector<int>& free_slots, size_t& running,
                       std::deque<UnitJob>& queue) {
  const Unit& unit = plan_.units[ev.unit];
  switch (ev.kind) {
    case RunnerEvent::Kind::TestStarted: {
      TestRecord& r = result_.records[ev.test];
      // A retry's start belongs to the attempt that is running, not to the failed one the record still
      // holds until this attempt ends.
      if (job_of_unit_[ev.unit].attempt == 1) {
        r.start_us = ev.at_us;
        r.slot = unit_slot_[ev.unit];
      }
      started_us_[ev.test] = ev.at_us;
      observer_->testStarted(ev.test, unit.id, unit_slot_[ev.unit]);
      break;
    }
    case RunnerEvent::Kind::TestFinished: {
      TestRecord& r = result_.records[ev.test];
      const int attempt = job_of_unit_[ev.unit].attempt;
      int64_t started = started_us_[ev.test];
      started_us_[ev.test] = -1;
      std::vector<TestRecord> earlier = std::move(r.earlier);
      if (attempt > 1) {
        // The previous attempt failed (that is why this one ran): keep it for the reports.
        TestRecord previous = std::move(r);
        previous.earlier.clear();
        earlier.push_back(std::move(previous));
      }
      r = ev.record;
      if (r.start_us < 0) r.start_us = started;
      r.unit = unit.id;
      r.slot = unit_slot_[ev.unit];
      r.attempts = attempt;
      r.earlier = std::move(earlier);
      if (attempt > 1 && !isFailure(r.outcome) && r.outcome != Outcome::Skip) r.outcome = Outcome::Flaky;
      bool will_retry = isFailure(r.outcome) && r.outcome != Outcome::NotRun && attempt <= opts_.retries;
      if (isFailure(r.outcome) && !will_retry) ++result_.failures;
      if (will_retry) {
        observer_->testRetried(ev.test, r);
      } else {
        observer_->testFinished(ev.test, r);
      }
      break;
    }
    case RunnerEvent::Kind::UnitFinished: {
      const UnitJob& job = job_of_unit_[ev.unit];
      UnitJob retry{ev.unit, 0, {}, job.attempt + 1};
      for (size_t t : job.tests) {
        Outcome o = result_.records[t].outcome;
        if (isFailure(o) && o != Outcome::NotRun && job.attempt <= opts_.retries) retry.tests.push_back(t);
      }
      if (!retry.tests.empty()) queue.push_front(std::move(retry));
      result_.unit_problems[ev.unit] = ev.problem;
      result_.unit_leaks[ev.unit] += ev.leaked;
      resources_.give(job.resources);
      result_.unit_runs[run_of_unit_[ev.unit]].end_us = ev.at_us;
      free_slots.push_back(unit_slot_[ev.unit]);
      std::push_heap(free_slots.begin(), free_slots.end(), std::greater<>());
      --running;
      if (ev.leaked > 0) observer_->unitLeaked(unit, ev.leaked);
      observer_->unitFinished(ev.unit, ev.problem);
      break;
    }
  }
}

void Scheduler::waitForResources(const UnitJob& job, int64_t now) {
  ResourceWait& w = waits_[job.unit];
  if (w.start_us >= 0) return;
  w = {job.unit, job.attempt, now, -1, resources_.shortOf(plan_.units[job.unit].resources), true};
}

void Scheduler::endWait(size_t unit, int64_t at, bool started) {
  ResourceWait& w = waits_[unit];
  if (w.start_us < 0) return;
  w.end_us = at;
  w.started = started;
  result_.resource_waits.push_back(std::move(w));
  w = ResourceWait{.start_us = -1};
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
    std::deque<UnitJob> queue;
    for (size_t u : phase.units) queue.push_back({u, 0, plan_.units[u].tests, 1});
    size_t running = 0;
    int64_t last_start_us = 0;
    bool none_left = false;  ///< the runner was told that no unit is left to start (until a retry starts)
    for (;;) {
      // In line order, every job that a free slot and its resources allow. A job whose resources are
      // taken keeps its place and waits; the ones behind it may start meanwhile.
      for (size_t i = 0; !stop_starting && running < width && i < queue.size();) {
        const ResourceCounts& need = plan_.units[queue[i].unit].resources;
        if (!resources_.fits(need)) {
          waitForResources(queue[i], now_us());
          ++i;
          continue;
        }
        UnitJob job = std::move(queue[i]);
        queue.erase(queue.begin() + std::ptrdiff_t(i));
        std::pop_heap(free_slots.begin(), free_slots.end(), std::greater<>());
        job.slot = free_slots.back();
        free_slots.pop_back();
        job.resources = resources_.take(need);
        unit_slot_[job.unit] = job.slot;
        job_of_unit_[job.unit] = job;
        ++running;
        none_left = false;
        last_start_us = now_us();
        endWait(job.unit, last_start_us, true);
        run_of_unit_[job.unit] = result_.unit_runs.size();
        result_.unit_runs.push_back({job.unit, job.slot, job.attempt, last_start_us, -1, job.resources});
        runner_.start(job_of_unit_[job.unit]);
      }
      // The next units in line, one per slot: their sandboxes get ready while the slots are busy. Not a
      // unit that needs resources: which instances it gets is known only when it starts.
      if (!stop_starting) {
        size_t hinted = 0;
        for (size_t i = 0; i < queue.size() && hinted < width; ++i) {
          if (!plan_.units[queue[i].unit].resources.empty()) continue;
          runner_.prepare(queue[i]);
          ++hinted;
        }
      }
      // Nothing left to start in the last phase (a retry may still come): what the runner keeps for units to
      // come can go while the last units run.
      if (queue.empty() && !none_left && p + 1 == plan_.phases.size() && opts_.last_run) {
        runner_.discardPrepared();
        none_left = true;
      }
      if (running == 0) break;
      events.clear();
      runner_.wait(events);
      observer_->tick();
      for (const RunnerEvent& ev : events) handle(ev, free_slots, running, queue);
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
  runner_.discardPrepared();
  // Units still waiting for resources never started.
  const int64_t stopped_us = now_us();
  for (size_t u = 0; u < plan_.units.size(); ++u) endWait(u, stopped_us, false);
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
