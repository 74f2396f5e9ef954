#include "executor/reports/merge.h"

#include <filesystem>
#include <map>
#include <set>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "executor/atomic_file.h"
#include "executor/input_file.h"
#include "executor/outcome.h"
#include "executor/json_location.h"
#include "executor/printable.h"
#include "executor/reports/report_junit.h"
#include "executor/reports/shard_logs.h"
#include "executor/utf8.h"
#include "sync-service/strict_json.h"

namespace mpexec {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

std::string str(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

const json::object& runOf(const json::object& report) { return report.at("run").as_object(); }

// The shard of a report as K/N, or none for an unsharded run (checkReport() has checked it).
std::optional<std::pair<int64_t, int64_t>> shardOf(const json::object& report) {
  const json::value* s = runOf(report).if_contains("shard");
  const json::array* a = s ? s->if_array() : nullptr;
  if (!a) return std::nullopt;
  return std::make_pair((*a)[0].as_int64(), (*a)[1].as_int64());
}

// What merge reads of a report, checked once so that no later step meets a wrong type: shard reports
// come from other jobs, and any file can be passed.
Result<void> checkReport(const ShardReport& r) {
  auto bad = [&](std::string what) { return Error{{}, 0, printable(r.path) + ": " + what}; };
  const json::value* run = r.report.if_contains("run");
  const json::value* tests = r.report.if_contains("tests");
  if (!run || !run->is_object() || !tests || !tests->is_array())
    return bad("not an mpexec JSON report (no \"run\" object or \"tests\" array)");
  for (const json::value& t : tests->as_array()) {
    if (!t.is_object() || !t.as_object().contains("name") || !t.as_object().at("name").is_string())
      return bad("a test entry without a name");
  }
  if (const json::value* s = run->as_object().if_contains("shard"); s && !s->is_null()) {
    const json::array* a = s->if_array();
    bool ok = a && a->size() == 2 && (*a)[0].is_int64() && (*a)[1].is_int64() && (*a)[0].as_int64() >= 1 &&
              (*a)[0].as_int64() <= (*a)[1].as_int64();
    if (!ok) return bad(fmt::format("run.shard is {}, not [K, N] with 1 <= K <= N", jsonSnippet(*s)));
  }
  if (const json::value* p = r.report.if_contains("planned"); p && !p->is_null()) {
    const json::array* a = p->if_array();
    if (!a) return bad(fmt::format("\"planned\" is {}, not an array of test names", jsonSnippet(*p)));
    std::set<std::string_view> names;
    for (const json::value& v : *a) {
      if (!v.is_string()) return bad(fmt::format("\"planned\" holds {}, not a test name", jsonSnippet(v)));
      if (!names.insert(v.as_string()).second)
        return bad(fmt::format("\"planned\" names {} twice", jsonSnippet(v)));
    }
  }
  return {};
}

std::string joinNames(const std::vector<std::string>& names, std::size_t shown = 50, std::size_t total = 0) {
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < shown; ++i) out += (i ? ", " : "") + names[i];
  total = std::max(total, names.size());
  if (total > std::min(shown, names.size())) out += fmt::format(" and {} more", total - std::min(shown, names.size()));
  return out;
}

}  // namespace

Result<Merged> mergeReports(const std::vector<ShardReport>& reports) {
  if (reports.empty()) return Error{{}, 0, "no report to merge"};
  for (const ShardReport& r : reports) MPEXEC_TRY(checkReport(r));

  // One manifest, one shard count, one planned list.
  const ShardReport& first = reports.front();
  const std::string digest = str(runOf(first.report), "manifest_digest");
  std::optional<int64_t> total;
  const json::array* planned = nullptr;
  const ShardReport* planned_by = nullptr;
  for (const ShardReport& r : reports) {
    if (std::string d = str(runOf(r.report), "manifest_digest"); d != digest)
      return Error{{}, 0, fmt::format("{} and {} come from different manifests (digest {} and {})", printable(first.path),
                                      printable(r.path), printable(digest), printable(d))};
    if (auto s = shardOf(r.report)) {
      if (total && *total != s->second)
        return Error{{}, 0, fmt::format("{} is shard {}/{}, but another report has {} shards", printable(r.path), s->first,
                                        s->second, *total)};
      total = s->second;
    }
    const json::value* p = r.report.if_contains("planned");
    if (!p || p->is_null()) continue;
    if (planned && *planned != p->as_array()) {
      std::set<std::string> a, b;
      for (const auto& v : *planned) a.insert(std::string(v.as_string()));
      for (const auto& v : p->as_array()) b.insert(std::string(v.as_string()));
      std::vector<std::string> diff;
      for (const auto& n : a) if (!b.contains(n)) diff.push_back(printable(n) + " (only in " + printable(planned_by->path) + ")");
      for (const auto& n : b) if (!a.contains(n)) diff.push_back(printable(n) + " (only in " + printable(r.path) + ")");
      return Error{{}, 0, fmt::format("{} and {} plan different tests: {}", printable(planned_by->path), printable(r.path),
                                      diff.empty() ? "the same names in another order" : joinNames(diff, 10))};
    }
    planned = &p->as_array();
    planned_by = &r;
  }

  Merged out;
  // Each test entry, tagged with its shard; the order of the planned list when there is one.
  std::map<std::string, std::vector<std::pair<json::object, std::size_t>>> by_name;  // entries and their report
  std::vector<std::string> seen_order;
  json::array units, barriers, ops, shards, warnings;
  std::set<int64_t> shard_indices;
  int64_t wall_us = 0;
  bool interrupted = false;
  for (std::size_t i = 0; i < reports.size(); ++i) {
    const ShardReport& r = reports[i];
    const json::object& run = runOf(r.report);
    auto s = shardOf(r.report);
    int64_t k = s ? s->first : int64_t(i + 1);
    if (s) shard_indices.insert(k);
    std::string prefix = fmt::format("s{}.", k);
    for (const json::value& tv : r.report.at("tests").as_array()) {
      json::object t = tv.as_object();
      std::string name(t.at("name").as_string());
      if (std::string unit = str(t, "unit"); !unit.empty()) t["unit"] = prefix + unit;
      t["shard"] = k;
      auto [it, fresh] = by_name.try_emplace(name);
      if (fresh) seen_order.push_back(name);
      it->second.emplace_back(std::move(t), i);
    }
    if (const json::value* u = r.report.if_contains("units"); u && u->is_array()) {
      for (const json::value& uv : u->as_array()) {
        if (!uv.is_object()) continue;
        json::object o = uv.as_object();
        if (std::string id = str(o, "id"); !id.empty()) o["id"] = prefix + id;
        o["shard"] = k;
        units.push_back(std::move(o));
      }
    }
    if (const json::value* b = r.report.if_contains("barriers"); b && b->is_array()) {
      for (const json::value& bv : b->as_array()) {
        if (!bv.is_object()) continue;
        json::object o = bv.as_object();
        o["shard"] = k;
        barriers.push_back(std::move(o));
      }
    }
    if (const json::value* sy = r.report.if_contains("sync"); sy && sy->is_object() && sy->as_object().contains("operations")) {
      const json::value& list = sy->as_object().at("operations");
      for (const json::value& ov : list.is_array() ? list.as_array() : json::array{}) {
        if (!ov.is_object()) continue;
        json::object o = ov.as_object();
        if (std::string unit = str(o, "unit"); !unit.empty()) o["unit"] = prefix + unit;
        ops.push_back(std::move(o));
      }
    }
    if (const json::value* w = run.if_contains("warnings"); w && w->is_array())
      for (const json::value& wv : w->as_array())
        if (wv.is_string()) warnings.emplace_back(fmt::format("shard {}: {}", k, std::string(wv.as_string())));
    if (const json::value* wu = run.if_contains("wall_us"); wu && wu->is_int64()) wall_us = std::max(wall_us, wu->as_int64());
    if (const json::value* in = run.if_contains("interrupted"); in && in->is_bool()) interrupted |= in->as_bool();
    json::object shard_info{{"report", toValidUtf8(r.path)}, {"shard", s ? json::value(json::array{s->first, s->second}) : json::value(nullptr)}};
    for (const char* key : {"id", "np", "sandbox", "wall_us", "exit_code"})
      if (const json::value* v = run.if_contains(key)) shard_info[key] = *v;
    shards.push_back(std::move(shard_info));
  }
  if (total) {
    // Every K is in 1..N (checkReport()), so N - |K seen| are missing; name the first few only, since N is
    // whatever the report says.
    out.missing_shard_count = uint64_t(*total) - shard_indices.size();
    for (int64_t k = 1; k <= *total && out.missing_shards.size() < kMissingShardsNamed; ++k)
      if (!shard_indices.contains(k)) out.missing_shards.push_back(fmt::format("{}/{}", k, *total));
  }

  std::vector<std::string> order;
  if (planned) {
    std::set<std::string> in_plan;
    for (const json::value& v : *planned) {
      std::string name(v.as_string());
      in_plan.insert(name);
      order.push_back(name);
      if (!by_name.contains(name)) out.missing.push_back(name);
    }
    for (const std::string& name : seen_order) {
      if (!in_plan.contains(name)) {
        out.unplanned.push_back(name);
        order.push_back(name);
      }
    }
  } else {
    order = seen_order;
  }

  json::array tests;
  bool failed = false;
  for (const std::string& name : order) {
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      // Nothing planned disappears from a report: a test no shard reported is NOT_RUN.
      out.test_reports.push_back(Merged::kNoReport);
      tests.push_back(json::object{{"name", name}, {"group", nullptr}, {"strategy", nullptr}, {"unit", nullptr},
                                   {"slot", nullptr}, {"outcome", "NOT_RUN"}, {"exit_code", nullptr}, {"signal", nullptr},
                                   {"reason", "missing: no merged report ran it"}, {"start_us", nullptr},
                                   {"end_us", nullptr}, {"attempts", 0}, {"log", nullptr}, {"shard", nullptr}});
      failed = true;
      continue;
    }
    if (it->second.size() > 1) out.duplicated.push_back(name);
    for (auto& [t, report] : it->second) {
      auto outcome = outcomeFromName(str(t, "outcome"));
      if (!outcome || isFailure(*outcome)) failed = true;
      tests.push_back(std::move(t));
      out.test_reports.push_back(report);
    }
  }
  if (!out.complete()) failed = true;

  const json::object& first_run = runOf(first.report);
  json::object run{{"merged", true}, {"shards", std::move(shards)}, {"shard", nullptr}};
  for (const char* key : {"manifest", "manifest_digest", "sandbox", "limits", "np", "seed"})
    if (const json::value* v = first_run.if_contains(key)) run[key] = *v;
  run["wall_us"] = wall_us;
  run["exit_code"] = interrupted ? 130 : failed ? 1 : 0;
  run["interrupted"] = interrupted;
  run["planned_tests"] = planned ? planned->size() : order.size();
  run["warnings"] = std::move(warnings);
  out.report = json::object{{"version", 1},          {"run", std::move(run)},
                            {"tests", std::move(tests)}, {"units", std::move(units)},
                            {"barriers", std::move(barriers)}, {"sync", json::object{{"operations", std::move(ops)}}}};
  return out;
}

Result<ShardReport> readShardReport(const std::string& path, std::string_view text) {
  // Strictly, as the sync service reads bodies: what merge writes back must be JSON again, and Boost.JSON
  // reads 1e400 as infinity (0e+775808 as NaN), which it would write back as no JSON. A key given twice
  // and an integer beyond 64 bits are refused as well; mpexec writes neither.
  json::value v;
  std::string error;
  if (!sync::parseStrictJson(text, &v, &error, 64)) return Error{{}, 0, fmt::format("{}: not JSON: {}", printable(path), printable(error))};
  if (!v.is_object()) return Error{{}, 0, fmt::format("{}: not JSON: expected an object", printable(path))};
  return ShardReport{path, std::move(v.as_object())};
}

std::string mergedJunit(const Merged& merged, const std::vector<ShardReport>& reports, ShardLogs& logs) {
  return junitReport(merged.report, [&](std::size_t index, const std::string& log) -> std::optional<std::string> {
    std::size_t r = index < merged.test_reports.size() ? merged.test_reports[index] : Merged::kNoReport;
    if (r >= reports.size()) return std::nullopt;
    return logs.read(reports[r].path, str(runOf(reports[r].report), "id"), log);
  });
}

int mergeMain(int argc, char** argv) {
  const char* usage = "usage: mpexec merge REPORT.json... [--json F] [--junit F] [--log-root DIR]...\n";
  std::vector<std::string> paths, log_roots;
  std::string json_out, junit_out;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      fmt::print("{}  joins the JSON reports of a run's shards into one; fails when a planned test is missing\n"
                 "  or appears twice. Without --json the merged JSON goes to stdout. A test's log for the\n"
                 "  JUnit report is read from its report's run directory only (runs/<id>/logs/...): the\n"
                 "  report's own directory when it is the run's, else below each --log-root, the manifest's\n"
                 "  directory or the report's; any other log path is refused with a warning.\n",
                 usage);
      return 0;
    }
    if ((a == "--json" || a == "--junit" || a == "--log-root") && i + 1 < argc) {
      std::string v = argv[++i];
      if (a == "--json") json_out = v;
      else if (a == "--junit") junit_out = v;
      else log_roots.push_back(v);
    } else if (a.starts_with("-")) {
      fmt::print(stderr, "mpexec merge: unexpected argument '{}'\n{}", a, usage);
      return 2;
    } else {
      paths.push_back(a);
    }
  }
  if (paths.empty()) {
    fmt::print(stderr, "{}", usage);
    return 2;
  }
  std::vector<ShardReport> reports;
  for (const std::string& p : paths) {
    auto text = readInputFile(p);
    if (!text.ok()) {
      fmt::print(stderr, "mpexec merge: {}\n", printable(text.error().message()));
      return 2;
    }
    auto r = readShardReport(p, *text);
    if (!r.ok()) {
      fmt::print(stderr, "mpexec merge: {}\n", r.error().message());
      return 2;
    }
    reports.push_back(std::move(r.value()));
  }
  auto merged = mergeReports(reports);
  if (!merged.ok()) {
    fmt::print(stderr, "mpexec merge: {}\n", printable(merged.error().message()));
    return 2;
  }
  const Merged& m = merged.value();
  int rc = int(m.report.at("run").as_object().at("exit_code").as_int64());

  std::string text = json::serialize(m.report) + "\n";
  if (json_out.empty()) {
    fmt::print("{}", text);
  } else if (auto w = writeFileAtomic(json_out, text); !w.ok()) {
    fmt::print(stderr, "mpexec merge: {}\n", w.error().message());
    return 2;
  }
  if (!junit_out.empty()) {
    std::vector<std::string> roots = log_roots;
    std::error_code ec;
    if (std::string manifest = str(m.report.at("run").as_object(), "manifest"); !manifest.empty())
      if (fs::path abs = fs::absolute(manifest, ec); !ec) roots.push_back(abs.parent_path().string());
    ShardLogs logs(std::move(roots));
    if (auto w = writeFileAtomic(junit_out, mergedJunit(m, reports, logs)); !w.ok()) {
      fmt::print(stderr, "mpexec merge: {}\n", w.error().message());
      return 2;
    }
    for (const std::string& r : logs.refusals()) fmt::print(stderr, "mpexec merge: warning: {}\n", r);
  }

  std::map<std::string, std::size_t> counts;
  for (const json::value& t : m.report.at("tests").as_array()) ++counts[str(t.as_object(), "outcome")];
  std::string summary;
  for (const auto& [o, n] : counts) summary += fmt::format("{}{} {}", summary.empty() ? "" : ", ", n, printable(o));
  fmt::print(stderr, "mpexec merge: {} reports, {} tests: {}\n", reports.size(), m.report.at("tests").as_array().size(),
             summary.empty() ? "none" : summary);
  if (m.missing_shard_count > 0)
    fmt::print(stderr, "mpexec merge: no report for shard {}\n", printable(joinNames(m.missing_shards, 50, m.missing_shard_count)));
  if (!m.missing.empty())
    fmt::print(stderr, "mpexec merge: {} planned test(s) missing: {}\n", m.missing.size(), printable(joinNames(m.missing)));
  if (!m.duplicated.empty())
    fmt::print(stderr, "mpexec merge: {} test(s) appear more than once: {}\n", m.duplicated.size(), printable(joinNames(m.duplicated)));
  if (!m.unplanned.empty())
    fmt::print(stderr, "mpexec merge: {} test(s) were not planned: {}\n", m.unplanned.size(), printable(joinNames(m.unplanned)));
  return rc == 0 ? 0 : 1;
}

}  // namespace mpexec
