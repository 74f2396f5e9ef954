#include "executor/reports/report_trace.h"

#include <algorithm>
#include <cstdint>
#include <limits>

#include <boost/json.hpp>

namespace mpexec {

namespace json = boost::json;

namespace {

constexpr int kPid = 1;

/// chrome://tracing's reserved colour names (Perfetto picks its own colours and ignores these).
const char* colourOf(Outcome o) {
  switch (o) {
    case Outcome::Pass: return "good";
    case Outcome::Skip: return "grey";
    case Outcome::Flaky: return "yellow";
    case Outcome::Fail: return "bad";
    case Outcome::Timeout:
    case Outcome::Crash:
    case Outcome::Error: return "terrible";
    case Outcome::NotRun: return "grey";
  }
  return "grey";
}

template <class T>
json::value orNull(const std::optional<T>& v) {
  return v ? json::value(*v) : json::value(nullptr);
}

json::object event(const char* ph, std::string name, int64_t ts, int tid) {
  return json::object{{"name", std::move(name)}, {"ph", ph}, {"ts", ts}, {"pid", kPid}, {"tid", tid}};
}

json::object metadata(const char* what, int tid, json::object args) {
  json::object e = event("M", what, 0, tid);
  e["args"] = std::move(args);
  return e;
}

json::object slice(std::string name, const char* cat, int64_t start, int64_t end, int tid) {
  json::object e = event("X", std::move(name), start, tid);
  e["cat"] = cat;
  e["dur"] = std::max<int64_t>(0, end - start);
  return e;
}

}  // namespace

Timeline layoutTimeline(const Plan& plan, const ScheduleResult& result, const RunInfo& info) {
  Timeline tl;
  tl.slots = std::max(1, info.np);
  tl.span_us = std::max<int64_t>(1, info.wall_us);
  auto endOr = [&](int64_t start, int64_t end) { return end >= start ? end : std::max(start, info.wall_us); };

  std::vector<size_t> unit_of(result.records.size(), SIZE_MAX);
  for (size_t u = 0; u < plan.units.size(); ++u)
    for (size_t t : plan.units[u].tests) unit_of[t] = u;
  std::vector<size_t> last_run(plan.units.size(), SIZE_MAX);
  for (size_t i = 0; i < result.unit_runs.size(); ++i)
    if (result.unit_runs[i].unit < plan.units.size()) last_run[result.unit_runs[i].unit] = i;

  // Tests, and earlier attempts of the retried ones.
  for (size_t t : plan.tests) {
    const TestRecord& r = result.records[t];
    for (size_t k = 0; k < r.earlier.size(); ++k) {
      const TestRecord& e = r.earlier[k];
      if (e.start_us < 0 || e.slot < 0) continue;
      tl.slices.push_back({Slice::Kind::Attempt, t, e.slot, int(k) + 1, e.start_us, endOr(e.start_us, e.end_us), &e});
    }
    Slice s{Slice::Kind::Test, t, r.slot, std::max(1, r.attempts), r.start_us, 0, &r};
    if (r.slot < 0) {
      ++tl.off_timeline;
      continue;
    }
    if (r.start_us >= 0) {
      s.end_us = endOr(r.start_us, r.end_us);
    } else if (size_t u = unit_of[t]; u != SIZE_MAX && last_run[u] != SIZE_MAX) {
      const UnitRun& run = result.unit_runs[last_run[u]];
      s.start_us = s.end_us = endOr(run.start_us, run.end_us);
    } else {
      ++tl.off_timeline;
      continue;
    }
    tl.slices.push_back(s);
  }
  const size_t test_slices = tl.slices.size();

  // Unit runs, with the set-up before their first test and the teardown after their last.
  for (const UnitRun& run : result.unit_runs) {
    if (run.unit >= plan.units.size()) continue;
    int64_t end = endOr(run.start_us, run.end_us);
    int64_t lo = std::numeric_limits<int64_t>::max(), hi = -1;
    for (size_t i = 0; i < test_slices; ++i) {
      const Slice& s = tl.slices[i];
      if (s.slot != run.slot || unit_of[s.index] != run.unit || s.start_us < run.start_us || s.start_us > end) continue;
      if (s.end_us == s.start_us && s.record->start_us < 0) continue;  // placed, not timed
      lo = std::min(lo, s.start_us);
      hi = std::max(hi, s.end_us);
    }
    tl.slices.push_back({Slice::Kind::Unit, run.unit, run.slot, run.attempt, run.start_us, end, nullptr});
    if (hi < 0) {
      // No test ran in it (a failed group setup, a sandbox that did not start): all of it was set-up.
      tl.slices.push_back({Slice::Kind::SetUp, run.unit, run.slot, run.attempt, run.start_us, end, nullptr});
      continue;
    }
    if (lo > run.start_us) tl.slices.push_back({Slice::Kind::SetUp, run.unit, run.slot, run.attempt, run.start_us, lo, nullptr});
    if (end > hi) tl.slices.push_back({Slice::Kind::Teardown, run.unit, run.slot, run.attempt, hi, end, nullptr});
  }
  for (const Slice& s : tl.slices) {
    tl.slots = std::max(tl.slots, s.slot + 1);
    tl.span_us = std::max(tl.span_us, s.end_us);
  }
  for (const UnitRun& run : result.unit_runs)
    for (const auto& [name, instances] : run.resources)
      for (int i : instances) tl.instances.emplace_back(name, i);
  for (const ResourceWait& w : result.resource_waits) tl.span_us = std::max(tl.span_us, w.end_us);
  std::sort(tl.instances.begin(), tl.instances.end());
  tl.instances.erase(std::unique(tl.instances.begin(), tl.instances.end()), tl.instances.end());

  // Phases: where their units ran, widened to the wait of the barrier that closed them.
  std::vector<size_t> phase_of(plan.units.size(), SIZE_MAX);
  for (size_t p = 0; p < plan.phases.size(); ++p)
    for (size_t u : plan.phases[p].units) phase_of[u] = p;
  tl.phases.resize(plan.phases.size());
  for (size_t p = 0; p < plan.phases.size(); ++p) {
    tl.phases[p].phase = p;
    tl.phases[p].start_us = std::numeric_limits<int64_t>::max();
    tl.phases[p].end_us = -1;
  }
  for (const Slice& s : tl.slices) {
    size_t u = s.kind == Slice::Kind::Test || s.kind == Slice::Kind::Attempt ? unit_of[s.index] : s.index;
    if (u == SIZE_MAX || phase_of[u] == SIZE_MAX) continue;
    PhaseSpan& ps = tl.phases[phase_of[u]];
    ps.ran = true;
    ps.start_us = std::min(ps.start_us, s.start_us);
    ps.end_us = std::max(ps.end_us, s.end_us);
  }
  for (PhaseSpan& ps : tl.phases) {
    if (!ps.ran) {
      ps.start_us = ps.end_us = 0;
      continue;
    }
    // The barrier that closed this phase is the one whose wait overlaps it: the next phase starts only
    // after that wait, and the previous one ended before this one started.
    for (const Barrier& b : result.barriers) {
      if (b.start_us >= ps.end_us || b.end_us <= ps.start_us) continue;
      ps.start_us = std::min(ps.start_us, b.start_us);
      ps.end_us = std::max(ps.end_us, b.end_us);
    }
  }
  return tl;
}

int instanceRow(const Timeline& tl, const std::string& resource, int instance) {
  auto it = std::lower_bound(tl.instances.begin(), tl.instances.end(), std::make_pair(resource, instance));
  return it != tl.instances.end() && *it == std::make_pair(resource, instance) ? int(it - tl.instances.begin()) : -1;
}

std::string traceReport(const Manifest& m, const Plan& plan, const ScheduleResult& result, const RunInfo& info) {
  Timeline tl = layoutTimeline(plan, result, info);
  TraceTracks tracks{tl.slots};

  json::array events;
  events.reserve(2 * size_t(tracks.slots) + 8);

  // Track names and order: phases on top, then the slots, then sync.
  events.push_back(metadata("process_name", 0, {{"name", "mpexec " + info.run_id}}));
  events.push_back(metadata("thread_name", tracks.phasesTid(), {{"name", "phases"}}));
  events.push_back(metadata("thread_sort_index", tracks.phasesTid(), {{"sort_index", -1}}));
  for (int s = 0; s < tracks.slots; ++s) {
    events.push_back(metadata("thread_name", tracks.slotTid(s), {{"name", "slot " + std::to_string(s)}}));
    events.push_back(metadata("thread_sort_index", tracks.slotTid(s), {{"sort_index", s}}));
  }
  events.push_back(metadata("thread_name", tracks.syncTid(), {{"name", "sync"}}));
  events.push_back(metadata("thread_sort_index", tracks.syncTid(), {{"sort_index", tracks.slots}}));
  for (size_t k = 0; k < tl.instances.size(); ++k) {
    const auto& [name, instance] = tl.instances[k];
    int tid = tracks.instanceTid(int(k));
    events.push_back(metadata("thread_name", tid, {{"name", name + " " + std::to_string(instance)}}));
    events.push_back(metadata("thread_sort_index", tid, {{"sort_index", tracks.slots + 1 + int(k)}}));
  }

  json::array timed;  // everything but the metadata, sorted before it is written
  timed.reserve(tl.slices.size() + info.sync_ops.size() + 2 * result.barriers.size() + plan.phases.size());
  for (const Slice& s : tl.slices) {
    int tid = tracks.slotTid(s.slot);
    if (s.kind == Slice::Kind::Test || s.kind == Slice::Kind::Attempt) {
      const TestSpec& spec = m.tests[s.index];
      const TestRecord& r = *s.record;
      bool attempt = s.kind == Slice::Kind::Attempt;
      json::object e = slice(attempt ? spec.name + " (attempt " + std::to_string(s.attempt) + ")" : spec.name,
                             attempt ? "attempt" : "test", s.start_us, s.end_us, tid);
      e["cname"] = colourOf(r.outcome);
      e["args"] = json::object{{"outcome", outcomeName(r.outcome)},
                               {"unit", r.unit},
                               {"group", spec.group},
                               {"strategy", strategyName(spec.strategy)},
                               {"exit_code", orNull(r.exit_code)},
                               {"signal", orNull(r.signal)},
                               {"reason", r.reason},
                               {"attempt", s.attempt},
                               {"started", r.start_us >= 0},
                               {"log", r.log}};
      timed.push_back(std::move(e));
      continue;
    }
    const Unit& unit = plan.units[s.index];
    if (s.kind == Slice::Kind::Unit) {
      json::object e = slice("unit " + unit.id + " " + unit.name, "unit", s.start_us, s.end_us, tid);
      e["cname"] = "generic_work";
      e["args"] = json::object{{"unit", unit.id}, {"name", unit.name}, {"group", unit.group},
                               {"strategy", strategyName(unit.strategy)}, {"attempt", s.attempt},
                               {"tests", unit.tests.size()}, {"problem", result.unit_problems[s.index]}};
      timed.push_back(std::move(e));
      continue;
    }
    bool setup = s.kind == Slice::Kind::SetUp;
    json::object e = slice(setup ? "set-up" : "teardown", setup ? "setup" : "teardown", s.start_us, s.end_us, tid);
    e["cname"] = "grey";
    e["args"] = json::object{{"unit", unit.id}, {"group", unit.group}};
    timed.push_back(std::move(e));
  }

  for (const PhaseSpan& s : tl.phases) {
    if (!s.ran) continue;
    const Phase& phase = plan.phases[s.phase];
    std::string name = phase.group.empty()
                           ? std::string("pool")
                           : "isolated " + phase.group + (phase.one_at_a_time ? " (isolated_serial)" : " (isolated_free)");
    json::object e = slice(std::move(name), phase.group.empty() ? "pool" : "isolated", s.start_us, s.end_us,
                           tracks.phasesTid());
    e["args"] = json::object{{"group", phase.group}, {"units", phase.units.size()}};
    timed.push_back(std::move(e));
  }
  for (size_t b = 0; b < result.barriers.size(); ++b) {
    const Barrier& barrier = result.barriers[b];
    // The wait: no new unit starts while the last ones of the phase finish.
    json::object wait = slice("barrier wait", "barrier", barrier.start_us, barrier.end_us, tracks.phasesTid());
    wait["cname"] = "grey";
    timed.push_back(std::move(wait));
    json::object e = event("i", "barrier", barrier.end_us, tracks.phasesTid());
    e["cat"] = "barrier";
    e["s"] = "g";
    e["args"] = json::object{{"after_phase", b}, {"wait_start_us", barrier.start_us},
                             {"wait_us", barrier.end_us - barrier.start_us}};
    timed.push_back(std::move(e));
  }
  // Which unit held each resource instance, and the waits for one: a unit a free slot could not start.
  for (const UnitRun& run : result.unit_runs) {
    if (run.unit >= plan.units.size()) continue;
    const Unit& unit = plan.units[run.unit];
    int64_t end = run.end_us >= run.start_us ? run.end_us : std::max(run.start_us, info.wall_us);
    for (const auto& [name, instances] : run.resources) {
      for (int i : instances) {
        json::object e = slice("unit " + unit.id + " " + unit.name, "resource", run.start_us, end,
                               tracks.instanceTid(instanceRow(tl, name, i)));
        e["args"] = json::object{{"unit", unit.id}, {"name", unit.name}, {"resource", name}, {"instance", i},
                                 {"attempt", run.attempt}};
        timed.push_back(std::move(e));
      }
    }
  }
  for (size_t k = 0; k < result.resource_waits.size(); ++k) {
    const ResourceWait& w = result.resource_waits[k];
    if (w.unit >= plan.units.size()) continue;
    const Unit& unit = plan.units[w.unit];
    std::string what;
    for (const auto& r : w.resources) what += (what.empty() ? "" : ", ") + r;
    for (const char* ph : {"b", "e"}) {
      json::object e = event(ph, "wait for " + what + ": " + unit.name, ph[0] == 'b' ? w.start_us : w.end_us,
                             tracks.phasesTid());
      e["cat"] = "resource_wait";
      e["id"] = k + 1;
      if (ph[0] == 'b') {
        e["args"] = json::object{{"unit", unit.id}, {"name", unit.name}, {"resources", json::value_from(w.resources)},
                                 {"started", w.started}, {"wait_us", w.end_us - w.start_us}};
      }
      timed.push_back(std::move(e));
    }
  }
  for (const SyncOp& op : info.sync_ops) {
    json::object e = event("i", op.key.empty() ? op.op : op.op + " " + op.key, op.start_us, tracks.syncTid());
    e["cat"] = "sync";
    e["s"] = "t";
    e["args"] = json::object{{"unit", op.unit},     {"op", op.op},         {"key", op.key},
                             {"status", op.status}, {"result", op.result}, {"end_us", op.end_us},
                             {"duration_us", op.end_us - op.start_us}};
    timed.push_back(std::move(e));
  }

  // Start order, enclosing slices first: viewers nest slices on one track by this order.
  auto key = [](const json::value& v) {
    const json::object& o = v.as_object();
    const json::value* dur = o.if_contains("dur");
    return std::make_pair(o.at("ts").to_number<int64_t>(), dur ? -dur->to_number<int64_t>() : 0);
  };
  std::vector<size_t> order(timed.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return key(timed[a]) < key(timed[b]); });
  for (size_t i : order) events.push_back(std::move(timed[i]));

  json::object other{{"run_id", info.run_id},
                     {"np", info.np},
                     {"seed", orNull(info.seed)},
                     {"sandbox", info.sandbox},
                     {"wall_us", info.wall_us},
                     {"exit_code", info.exit_code},
                     {"tests", plan.tests.size()},
                     {"tests_not_on_timeline", tl.off_timeline},
                     {"sync_ops_dropped", info.sync_ops_dropped},
                     {"manifest", m.path}};
  json::object root{{"traceEvents", std::move(events)}, {"displayTimeUnit", "ms"}, {"otherData", std::move(other)}};
  return json::serialize(root) + "\n";
}

}  // namespace mpexec
