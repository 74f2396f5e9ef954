#pragma once
// A UnitRunner with virtual time: each test takes a scripted duration and ends with a scripted outcome.
// Scheduler tests run in microseconds and can check every overlap.

#include <cstdint>
#include <map>
#include <vector>

#include "executor/plan.h"
#include "executor/unit_runner.h"

namespace mpexec::test {

class FakeRunner : public UnitRunner {
 public:
  struct Script {
    int64_t duration_us = 1000;
    Outcome outcome = Outcome::Pass;
    int fail_attempts = 0;  ///< when > 0: attempts up to this one FAIL, later ones end with `outcome`
  };
  struct Span {
    size_t unit;
    int slot;
    int64_t start_us, end_us;
  };

  FakeRunner(const Plan& plan, std::map<size_t, Script> scripts) : plan_(plan), scripts_(std::move(scripts)) {}

  void start(const UnitJob& job) override;
  void wait(std::vector<RunnerEvent>& out) override;
  void killAll() override;
  void prepare(const UnitJob& job) override { hints.push_back({job.unit, jobs.size()}); }
  void discardPrepared() override {
    ++discards;
    discard_times.push_back(now_);
  }

  int64_t now() const { return now_; }
  const std::vector<Span>& spans() const { return spans_; }
  size_t maxConcurrent() const { return max_running_; }
  /// Every job started, in order.
  std::vector<UnitJob> jobs;
  /// Every prepare() hint: the unit, and how many jobs had started when it came.
  std::vector<std::pair<size_t, size_t>> hints;
  int discards = 0;
  std::vector<int64_t> discard_times;  ///< the virtual time of each discardPrepared()
  /// Calls `fn` once the virtual clock reaches `at_us` (e.g. to raise an interrupt).
  int64_t interrupt_at_us = -1;
  bool interrupted = false;

 private:
  struct Pending {
    int64_t at;
    RunnerEvent ev;
  };
  const Plan& plan_;
  std::map<size_t, Script> scripts_;
  std::vector<Pending> queue_;
  std::vector<Span> spans_;
  std::map<size_t, size_t> open_span_;  // unit → index in spans_
  int64_t now_ = 0;
  size_t running_ = 0, max_running_ = 0;
};

}  // namespace mpexec::test
