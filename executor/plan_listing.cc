#include "executor/plan_listing.h"

#include <boost/json.hpp>
#include <fmt/format.h>

#include "executor/printable.h"

namespace mpexec {

namespace json = boost::json;

namespace {

const char* phaseKind(const Phase& p) {
  if (p.group.empty()) return "pool";
  return p.one_at_a_time ? "isolated_serial" : "isolated_free";
}

json::value orNull(const std::string& s) { return s.empty() ? json::value(nullptr) : json::value(s); }

// The exit code that means SKIP: a number, or null when none does.
json::value skipCode(const std::optional<int>& code) { return code ? json::value(*code) : json::value(nullptr); }

json::array strings(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

json::object counts(const ResourceCounts& c) {
  json::object o;
  for (const auto& [name, n] : c)
    if (n > 0) o[name] = n;
  return o;
}

}  // namespace

std::string planText(const Manifest& m, const Plan& plan) {
  std::string out;
  for (size_t p = 0; p < plan.phases.size(); ++p) {
    const Phase& phase = plan.phases[p];
    if (phase.group.empty()) {
      out += fmt::format("pool ({} units)\n", phase.units.size());
    } else {
      out += fmt::format("window {}: group {} ({}), behind a barrier\n", p + 1, printable(phase.group), phaseKind(phase));
    }
    for (size_t u : phase.units) {
      const Unit& unit = plan.units[u];
      std::string needs;
      for (const auto& [name, count] : unit.resources) needs += fmt::format("{}{}={}", needs.empty() ? " needs " : ",", name, count);
      out += fmt::format("  {} {}{}{}\n", unit.id, strategyName(unit.strategy),
                         unit.group.empty() ? "" : " [" + printable(unit.group) + "]", needs);
      for (size_t t : unit.tests) out += fmt::format("    {}\n", printable(m.tests[t].name));
    }
  }
  out += fmt::format("{} tests in {} units, {} phases\n", plan.tests.size(), plan.units.size(), plan.phases.size());
  return out;
}

std::string planJson(const Manifest& m, const Plan& plan, const Config& config, const Selection& sel,
                     const std::string& why_empty) {
  json::object selection;
  selection["filter"] = orNull(config.filter);
  selection["exclude"] = orNull(config.exclude);
  selection["labels"] = strings(config.labels);
  selection["exclude_labels"] = strings(config.exclude_labels);
  selection["rerun_failed"] = config.rerun_failed;
  selection["shard"] = sel.shard ? json::value(json::array{sel.shard->first, sel.shard->second}) : json::value(nullptr);
  selection["seed"] = sel.shuffle_seed ? json::value(*sel.shuffle_seed) : json::value(nullptr);

  std::vector<size_t> phase_of(plan.units.size(), 0), unit_of(m.tests.size(), 0);
  json::array phases;
  for (size_t p = 0; p < plan.phases.size(); ++p) {
    const Phase& phase = plan.phases[p];
    json::array ids;
    for (size_t u : phase.units) {
      ids.emplace_back(plan.units[u].id);
      phase_of[u] = p;
    }
    phases.push_back(json::object{{"index", p}, {"kind", phaseKind(phase)}, {"group", orNull(phase.group)},
                                  {"units", std::move(ids)}});
  }
  // Units in the order they would start: phase by phase, each phase in its own order.
  json::array units;
  for (const Phase& phase : plan.phases) {
    for (size_t u : phase.units) {
      const Unit& unit = plan.units[u];
      json::array names;
      for (size_t t : unit.tests) {
        names.emplace_back(m.tests[t].name);
        unit_of[t] = u;
      }
      units.push_back(json::object{{"id", unit.id}, {"name", unit.name}, {"group", orNull(unit.group)},
                                   {"strategy", strategyName(unit.strategy)}, {"phase", phase_of[u]},
                                   {"resources", counts(unit.resources)}, {"tests", std::move(names)}});
    }
  }
  json::array tests;
  for (size_t t : plan.tests) {
    const TestSpec& spec = m.tests[t];
    json::object env;
    for (const auto& [k, v] : spec.settings.env) env[k] = v;
    tests.push_back(json::object{{"name", spec.name},
                                 {"unit", plan.units[unit_of[t]].id},
                                 {"group", orNull(spec.group)},
                                 {"strategy", strategyName(spec.strategy)},
                                 {"cmd", strings(spec.cmd)},
                                 {"cwd", spec.settings.cwd},
                                 {"env", std::move(env)},
                                 {"timeout", spec.settings.timeout_s},
                                 {"labels", strings(spec.labels)},
                                 {"skip_exit_code", skipCode(spec.skip_exit_code)},
                                 {"will_fail", spec.will_fail},
                                 {"resources", counts(spec.resources)},
                                 {"declared_at", spec.json_pointer}});
  }
  json::object groups;
  for (const auto& [name, g] : m.groups) {
    groups[name] = json::object{{"strategy", strategyName(g.strategy)},
                                {"setup", g.setup.empty() ? json::value(nullptr) : json::value(strings(g.setup))},
                                {"teardown", g.teardown.empty() ? json::value(nullptr) : json::value(strings(g.teardown))}};
  }
  json::object out{{"format", "mpexec-plan"},
                   {"version", 1},
                   {"manifest", m.path},
                   {"manifest_digest", m.digest},
                   {"selection", std::move(selection)},
                   {"counts", json::object{{"manifest_tests", m.tests.size()}, {"tests", plan.tests.size()},
                                           {"units", plan.units.size()}, {"phases", plan.phases.size()}}},
                   {"no_tests", orNull(why_empty)},
                   {"resources", counts(m.resources)},
                   {"phases", std::move(phases)},
                   {"units", std::move(units)},
                   {"tests", std::move(tests)},
                   {"groups", std::move(groups)}};
  return json::serialize(out) + "\n";
}

}  // namespace mpexec
