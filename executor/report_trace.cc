#include "executor/report_trace.h"

#include <algorithm>
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

std::vector<PhaseSpan> phaseSpans(const Plan& plan, const ScheduleResult& result, int64_t wall_us) {
  std::vector<PhaseSpan> spans;
  const auto& barriers = result.barriers;
  for (size_t p = 0; p < plan.phases.size(); ++p) {
    int64_t lo = std::numeric_limits<int64_t>::max(), hi = -1;
    for (size_t u : plan.phases[p].units) {
      for (size_t t : plan.units[u].tests) {
        const TestRecord& r = result.records[t];
        if (r.start_us < 0) continue;
        lo = std::min(lo, r.start_us);
        hi = std::max(hi, r.end_us >= r.start_us ? r.end_us : wall_us);
      }
    }
    bool timed = hi >= 0;
    bool barrier_before = p > 0 && p - 1 < barriers.size();
    bool barrier_after = p < barriers.size();
    PhaseSpan s;
    s.phase = p;
    s.ran = timed || barrier_after;
    // The barrier times are the scheduler's own: the window really starts when the barrier before it
    // lets units start, and ends when its last unit (teardown included) has ended.
    s.start_us = barrier_before ? barriers[p - 1].end_us : timed ? lo : 0;
    // A unit starts (sandbox, group setup) before its first test does, and no later than the wait.
    if (!barrier_before && barrier_after) s.start_us = std::min(s.start_us, barriers[p].start_us);
    s.end_us = barrier_after ? barriers[p].end_us : timed ? hi : s.start_us;
    if (s.end_us < s.start_us) s.end_us = s.start_us;
    spans.push_back(s);
  }
  return spans;
}

std::string traceReport(const Manifest& m, const Plan& plan, const ScheduleResult& result, const RunInfo& info) {
  TraceTracks tracks;
  tracks.slots = std::max(1, info.np);
  for (size_t t : plan.tests) tracks.slots = std::max(tracks.slots, result.records[t].slot + 1);

  json::array events;
  events.reserve(plan.tests.size() + info.sync_ops.size() + 4 * plan.phases.size() + size_t(tracks.slots) + 8);

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

  json::array timed;  // everything but the metadata, sorted before it is written
  size_t off_timeline = 0;
  for (size_t t : plan.tests) {
    const TestSpec& spec = m.tests[t];
    const TestRecord& r = result.records[t];
    if (r.start_us < 0 || r.slot < 0) {
      ++off_timeline;
      continue;
    }
    int64_t end = r.end_us >= r.start_us ? r.end_us : std::max(r.start_us, info.wall_us);
    json::object e = slice(spec.name, "test", r.start_us, end, tracks.slotTid(r.slot));
    e["cname"] = colourOf(r.outcome);
    e["args"] = json::object{{"outcome", outcomeName(r.outcome)},
                             {"unit", r.unit},
                             {"group", spec.group},
                             {"strategy", strategyName(spec.strategy)},
                             {"exit_code", orNull(r.exit_code)},
                             {"signal", orNull(r.signal)},
                             {"reason", r.reason},
                             {"attempts", r.attempts},
                             {"log", r.log}};
    timed.push_back(std::move(e));
  }

  for (const PhaseSpan& s : phaseSpans(plan, result, info.wall_us)) {
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
                     {"tests_not_on_timeline", off_timeline},
                     {"sync_ops_dropped", info.sync_ops_dropped},
                     {"manifest", m.path}};
  json::object root{{"traceEvents", std::move(events)}, {"displayTimeUnit", "ms"}, {"otherData", std::move(other)}};
  return json::serialize(root) + "\n";
}

}  // namespace mpexec
