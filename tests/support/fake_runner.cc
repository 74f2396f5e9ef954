#include "tests/support/fake_runner.h"

#include <algorithm>

namespace mpexec::test {

void FakeRunner::start(const UnitJob& job) {
  jobs.push_back(job);
  size_t unit = job.unit;
  int slot = job.slot;
  ++running_;
  max_running_ = std::max(max_running_, running_);
  open_span_[unit] = spans_.size();
  spans_.push_back({unit, slot, now_, -1});
  int64_t t = now_;
  for (size_t test : job.tests) {
    Script s = scripts_.count(test) ? scripts_[test] : Script{};
    RunnerEvent started;
    started.kind = RunnerEvent::Kind::TestStarted;
    started.unit = unit;
    started.test = test;
    started.at_us = t;
    queue_.push_back({t, started});
    t += s.duration_us;
    RunnerEvent done;
    done.kind = RunnerEvent::Kind::TestFinished;
    done.unit = unit;
    done.test = test;
    done.record.outcome = job.attempt <= s.fail_attempts ? Outcome::Fail : s.outcome;
    done.record.end_us = t;  // the start is TestStarted's, as with LocalRunner
    done.record.attempts = 1;
    done.record.resources = job.resources;
    queue_.push_back({t, done});
  }
  RunnerEvent end;
  end.kind = RunnerEvent::Kind::UnitFinished;
  end.unit = unit;
  end.at_us = t;
  queue_.push_back({t, end});
}

void FakeRunner::wait(std::vector<RunnerEvent>& out) {
  if (queue_.empty()) return;
  auto first = std::min_element(queue_.begin(), queue_.end(), [](const Pending& a, const Pending& b) { return a.at < b.at; });
  int64_t at = first->at;
  if (interrupt_at_us >= 0 && at >= interrupt_at_us) {
    now_ = interrupt_at_us;
    interrupted = true;
    return;
  }
  now_ = at;
  // Everything due now, in the order it was queued (a unit's events stay in order).
  std::vector<Pending> rest;
  for (auto& p : queue_) {
    if (p.at == at) {
      if (p.ev.kind == RunnerEvent::Kind::UnitFinished) {
        --running_;
        spans_[open_span_[p.ev.unit]].end_us = at;
      }
      out.push_back(std::move(p.ev));
    } else {
      rest.push_back(std::move(p));
    }
  }
  queue_ = std::move(rest);
}

void FakeRunner::killAll() {
  for (auto& [unit, idx] : open_span_)
    if (spans_[idx].end_us < 0) spans_[idx].end_us = now_;
  queue_.clear();
  running_ = 0;
}

}  // namespace mpexec::test
