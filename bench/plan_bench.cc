// The executor's in-process costs (DESIGN §9, issue 5), medians of 5 repetitions:
//   - ParsePlan/N: parseManifest on generated text, then makePlan with an empty history, for 10k and
//     100k tests (mostly free tests, some serial groups, some isolated groups); the process's peak RSS
//     (getrusage ru_maxrss) after the runs is a counter;
//   - Dispatch/N/slots: the Scheduler over a plan of N one-test units with a runner that finishes every
//     unit at once, so what is timed is the dispatch decision alone; `per_unit` is the time per unit.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "executor/history.h"
#include "executor/manifest.h"
#include "executor/plan.h"
#include "executor/scheduler.h"
#include "executor/unit_runner.h"

namespace mpexec {
namespace {

/// The manifest text for `n` tests running /bin/true. Of every 100 tests, 90 are free, 6 belong to
/// serial groups of 10 tests, 3 to isolated_free groups and 1 to isolated_serial groups; the isolated
/// groups are few (each is a barrier in a run), so they grow with n by holding more tests.
std::string manifestText(size_t n) {
  const size_t isolated_free_groups = 4, isolated_serial_groups = 2;
  std::string s;
  s.reserve(n * 64);
  s += "{\"version\": 1, \"groups\": {";
  bool first = true;
  auto group = [&](const std::string& name, const char* strategy) {
    if (!first) s += ", ";
    first = false;
    s += "\"" + name + "\": {\"strategy\": \"" + strategy + "\"}";
  };
  size_t serial_tests = 0;
  for (size_t i = 0; i < n; ++i)
    if (i % 100 >= 90 && i % 100 < 96) ++serial_tests;
  for (size_t g = 0; g < (serial_tests + 9) / 10; ++g) group("s" + std::to_string(g), "serial");
  for (size_t g = 0; g < isolated_free_groups; ++g) group("if" + std::to_string(g), "isolated_free");
  for (size_t g = 0; g < isolated_serial_groups; ++g) group("is" + std::to_string(g), "isolated_serial");
  s += "}, \"tests\": [\n";
  size_t serial_seen = 0, isolated_free_seen = 0, isolated_serial_seen = 0;
  char buf[160];
  for (size_t i = 0; i < n; ++i) {
    std::string grp;
    const size_t r = i % 100;
    if (r >= 90 && r < 96) {
      grp = "s" + std::to_string(serial_seen++ / 10);
    } else if (r >= 96 && r < 99) {
      grp = "if" + std::to_string(isolated_free_seen++ % isolated_free_groups);
    } else if (r == 99) {
      grp = "is" + std::to_string(isolated_serial_seen++ % isolated_serial_groups);
    }
    if (i > 0) s += ",\n";
    if (grp.empty()) {
      std::snprintf(buf, sizeof buf, "{\"name\": \"suite.t%06zu\", \"cmd\": [\"/bin/true\"]}", i);
    } else {
      std::snprintf(buf, sizeof buf, "{\"name\": \"suite.t%06zu\", \"cmd\": [\"/bin/true\"], \"group\": \"%s\"}",
                    i, grp.c_str());
    }
    s += buf;
  }
  s += "\n]}\n";
  return s;
}

double peakRssMiB() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

void ParsePlan(benchmark::State& state) {
  const size_t n = size_t(state.range(0));
  const std::string text = manifestText(n);
  const History history;
  size_t units = 0;
  for (auto _ : state) {
    auto m = parseManifest(text, "/tmp/plan-bench/manifest.json");
    if (!m.ok()) {
      state.SkipWithError(("parseManifest: " + m.error().message()).c_str());
      return;
    }
    Plan plan = makePlan(m.value(), history, Selection{});
    units = plan.units.size();
    benchmark::DoNotOptimize(plan);
  }
  state.counters["tests"] = double(n);
  state.counters["units"] = double(units);
  state.counters["text_MiB"] = double(text.size()) / (1024.0 * 1024.0);
  // The whole process's peak so far: runs are registered smallest first, so the 100k figure is its own.
  state.counters["peak_rss_MiB"] = peakRssMiB();
}
BENCHMARK(ParsePlan)
    ->Arg(10'000)
    ->Arg(100'000)
    ->Repetitions(5)
    ->ReportAggregatesOnly(true)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

/// Finishes every unit the moment it starts: start() queues the unit's events, wait() hands them over.
class InstantRunner : public UnitRunner {
 public:
  void start(const UnitJob& job) override {
    for (size_t test : job.tests) {
      RunnerEvent started;
      started.kind = RunnerEvent::Kind::TestStarted;
      started.unit = job.unit;
      started.test = test;
      started.at_us = now_;
      pending_.push_back(std::move(started));
      RunnerEvent done;
      done.kind = RunnerEvent::Kind::TestFinished;
      done.unit = job.unit;
      done.test = test;
      done.record.outcome = Outcome::Pass;
      done.record.exit_code = 0;
      done.record.start_us = now_;
      done.record.end_us = ++now_;
      done.record.attempts = 1;
      pending_.push_back(std::move(done));
    }
    RunnerEvent end;
    end.kind = RunnerEvent::Kind::UnitFinished;
    end.unit = job.unit;
    end.at_us = now_;
    pending_.push_back(std::move(end));
    ++started_;
  }
  void wait(std::vector<RunnerEvent>& out) override {
    for (auto& ev : pending_) out.push_back(std::move(ev));
    pending_.clear();
  }
  void killAll() override { pending_.clear(); }
  size_t started() const { return started_; }

 private:
  std::vector<RunnerEvent> pending_;
  int64_t now_ = 0;
  size_t started_ = 0;
};

void Dispatch(benchmark::State& state) {
  const size_t n = size_t(state.range(0));
  const int slots = int(state.range(1));
  // N free tests, so N one-test units in the pool.
  std::string text = "{\"version\": 1, \"tests\": [\n";
  char buf[96];
  for (size_t i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof buf, "%s{\"name\": \"t%06zu\", \"cmd\": [\"/bin/true\"]}", i ? ",\n" : "", i);
    text += buf;
  }
  text += "\n]}\n";
  auto m = parseManifest(text, "/tmp/plan-bench/manifest.json");
  if (!m.ok()) {
    state.SkipWithError(("parseManifest: " + m.error().message()).c_str());
    return;
  }
  const Plan plan = makePlan(m.value(), History{}, Selection{});
  int64_t clock = 0;
  for (auto _ : state) {
    InstantRunner runner;
    SchedulerOptions opts;
    opts.slots = slots;
    Scheduler scheduler(plan, m.value().tests.size(), runner, opts);
    ScheduleResult result = scheduler.run([&clock] { return ++clock; });
    if (runner.started() != plan.units.size() || result.failures != 0) {
      state.SkipWithError("the scheduler did not dispatch every unit exactly once");
      return;
    }
    benchmark::DoNotOptimize(result);
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(n));
  state.counters["per_unit"] =
      benchmark::Counter(double(n), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(Dispatch)
    ->Args({1'000, 2})
    ->Args({10'000, 2})
    ->Args({10'000, 8})
    ->Args({100'000, 2})
    ->Repetitions(5)
    ->ReportAggregatesOnly(true)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace mpexec

BENCHMARK_MAIN();
