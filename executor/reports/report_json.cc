#include "executor/reports/report_json.h"

#include <boost/json.hpp>

namespace mpexec {

namespace json = boost::json;

namespace {

template <class T>
json::value orNull(const std::optional<T>& v) {
  return v ? json::value(*v) : json::value(nullptr);
}

json::object countsJson(const ResourceCounts& counts) {
  json::object o;
  for (const auto& [name, n] : counts)
    if (n > 0) o[name] = n;
  return o;
}

json::object instancesJson(const ResourceInstances& held) {
  json::object o;
  for (const auto& [name, instances] : held) o[name] = json::value_from(instances);
  return o;
}

}  // namespace

std::string jsonReport(const Manifest& m, const Plan& plan, const ScheduleResult& result, const RunInfo& info) {
  json::object run;
  run["id"] = info.run_id;
  run["np"] = info.np;
  run["seed"] = orNull(info.seed);
  run["shard"] = info.shard ? json::value(json::array{info.shard->first, info.shard->second}) : json::value(nullptr);
  run["sandbox"] = info.sandbox;
  run["sandbox_detail"] = info.sandbox_detail;
  json::array limits;
  for (const auto& l : info.limits) limits.emplace_back(l);
  run["limits"] = std::move(limits);
  run["wall_us"] = info.wall_us;
  run["exit_code"] = info.exit_code;
  run["interrupted"] = result.interrupted;
  run["manifest"] = m.path;
  json::object capacity;
  for (const auto& [name, n] : plan.resources) capacity[name] = n;
  run["resources"] = std::move(capacity);
  run["manifest_digest"] = m.digest;
  // What `mpexec merge` checks the shards against: how many tests all shards together plan.
  run["planned_tests"] = info.shard && !plan.unsharded_tests.empty() ? plan.unsharded_tests.size() : plan.tests.size();
  json::array warnings;
  for (const auto& w : info.warnings) warnings.emplace_back(w);
  run["warnings"] = std::move(warnings);

  json::array tests;
  tests.reserve(plan.tests.size());
  for (size_t t : plan.tests) {
    const TestSpec& spec = m.tests[t];
    const TestRecord& r = result.records[t];
    json::object o;
    o["name"] = spec.name;
    o["group"] = spec.group.empty() ? json::value(nullptr) : json::value(spec.group);
    o["gtest_suite"] = spec.gtest_suite.empty() ? json::value(nullptr) : json::value(spec.gtest_suite);
    o["strategy"] = strategyName(spec.strategy);
    o["unit"] = r.unit;
    o["slot"] = r.slot >= 0 ? json::value(r.slot) : json::value(nullptr);
    o["outcome"] = outcomeName(r.outcome);
    o["exit_code"] = orNull(r.exit_code);
    o["signal"] = orNull(r.signal);
    o["reason"] = r.reason;
    o["start_us"] = r.start_us >= 0 ? json::value(r.start_us) : json::value(nullptr);
    o["end_us"] = r.end_us >= 0 ? json::value(r.end_us) : json::value(nullptr);
    o["attempts"] = r.attempts;
    o["log"] = r.log.empty() ? json::value(nullptr) : json::value(r.log);
    o["note"] = r.note.empty() ? json::value(nullptr) : json::value(r.note);
    json::array labels;
    for (const auto& l : spec.labels) labels.emplace_back(l);
    o["labels"] = std::move(labels);
    o["resources"] = instancesJson(r.resources);
    tests.push_back(std::move(o));
  }

  json::array units;
  units.reserve(plan.units.size());
  for (size_t u = 0; u < plan.units.size(); ++u) {
    const Unit& unit = plan.units[u];
    json::array names;
    for (size_t t : unit.tests) names.emplace_back(m.tests[t].name);
    json::object o{{"id", unit.id}, {"name", unit.name}, {"strategy", strategyName(unit.strategy)},
                   {"tests", std::move(names)}};
    o["group"] = unit.group.empty() ? json::value(nullptr) : json::value(unit.group);
    o["problem"] = result.unit_problems[u].empty() ? json::value(nullptr) : json::value(result.unit_problems[u]);
    o["leaked_processes"] = u < result.unit_leaks.size() ? result.unit_leaks[u] : 0;
    o["resources"] = countsJson(unit.resources);
    units.push_back(std::move(o));
  }
  json::array barriers;
  for (const Barrier& b : result.barriers) barriers.push_back(json::object{{"start_us", b.start_us}, {"end_us", b.end_us}});
  json::array waits;
  for (const ResourceWait& w : result.resource_waits) {
    waits.push_back(json::object{{"unit", plan.units[w.unit].id}, {"attempt", w.attempt}, {"start_us", w.start_us},
                                 {"end_us", w.end_us}, {"resources", json::value_from(w.resources)},
                                 {"started", w.started}});
  }

  json::array ops;
  ops.reserve(info.sync_ops.size());
  for (const SyncOp& op : info.sync_ops)
    ops.push_back(json::object{{"unit", op.unit}, {"op", op.op}, {"key", op.key}, {"status", op.status},
                               {"result", op.result}, {"start_us", op.start_us}, {"end_us", op.end_us}});
  json::object sync{{"operations", std::move(ops)}, {"dropped", info.sync_ops_dropped}};

  json::object root{{"version", 1}, {"run", std::move(run)}, {"tests", std::move(tests)},
                    {"units", std::move(units)}, {"barriers", std::move(barriers)},
                    {"resource_waits", std::move(waits)}, {"sync", std::move(sync)}};
  if (info.shard && (!plan.unsharded_tests.empty() || plan.tests.empty())) {
    // A shard names every test of the whole selection, so a merge can name what is missing.
    json::array planned;
    planned.reserve(plan.unsharded_tests.size());
    for (size_t t : plan.unsharded_tests) planned.emplace_back(m.tests[t].name);
    root["planned"] = std::move(planned);
  }
  return json::serialize(root) + "\n";
}

}  // namespace mpexec
