// The Trace Event report: the structure Perfetto and chrome://tracing need, one slice per test on its
// slot's track, the phases, barriers and sync operations.

#include "executor/reports/report_trace.h"

#include <map>
#include <set>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "executor/history.h"
#include "tests/support/fake_runner.h"
#include "tests/support/manifest_builder.h"

namespace mpexec {
namespace {

namespace json = boost::json;
using test::addTest;

/// A finished run built by hand: `times` gives each test's slot, start and end.
struct BuiltRun {
  Manifest m;
  Plan plan;
  ScheduleResult result;
  RunInfo info;

  void finish(const std::map<std::string, std::tuple<int, int64_t, int64_t, Outcome>>& times) {
    plan = makePlan(m, History{}, {});
    result.records.resize(m.tests.size());
    result.unit_problems.resize(plan.units.size());
    for (const Unit& u : plan.units) {
      for (size_t t : u.tests) {
        TestRecord& r = result.records[t];
        r.unit = u.id;
        auto it = times.find(m.tests[t].name);
        if (it == times.end()) continue;  // never started: NOT_RUN
        auto [slot, start, end, outcome] = it->second;
        r.slot = slot;
        r.start_us = start;
        r.end_us = end;
        r.outcome = outcome;
        r.exit_code = outcome == Outcome::Fail ? 1 : 0;
        r.attempts = 1;
      }
    }
    info.run_id = "r1";
    info.np = 2;
    info.sandbox = "none";
    info.wall_us = 10'000;
  }

  json::object trace() const { return json::parse(traceReport(m, plan, result, info)).as_object(); }
};

std::vector<json::object> eventsWith(const json::object& trace, const std::string& ph, const std::string& cat = "") {
  std::vector<json::object> out;
  for (const auto& v : trace.at("traceEvents").as_array()) {
    const json::object& e = v.as_object();
    if (e.at("ph").as_string() != ph) continue;
    if (!cat.empty() && (!e.contains("cat") || e.at("cat").as_string() != cat)) continue;
    out.push_back(e);
  }
  return out;
}

int64_t num(const json::object& o, const char* key) { return o.at(key).to_number<int64_t>(); }

TEST(ReportTraceTest, StructureEveryEventHasPhTsPidTid) {
  BuiltRun run;
  addTest(run.m, "a");
  addTest(run.m, "b");
  addTest(run.m, "c", "db", Strategy::IsolatedSerial);
  run.finish({{"c", {0, 100, 900, Outcome::Pass}},
              {"a", {0, 1000, 5000, Outcome::Pass}},
              {"b", {1, 1000, 7000, Outcome::Fail}}});
  run.result.barriers.push_back({100, 950});
  run.info.sync_ops.push_back({"u1", "lock.acquire", "db", 200, "held", 300, 400});

  std::string text = traceReport(run.m, run.plan, run.result, run.info);
  json::error_code ec;
  json::value parsed = json::parse(text, ec);
  ASSERT_FALSE(ec) << ec.message();
  const json::object& root = parsed.as_object();
  EXPECT_EQ(root.at("displayTimeUnit").as_string(), "ms");
  ASSERT_TRUE(root.at("traceEvents").is_array());
  const json::array& events = root.at("traceEvents").as_array();
  ASSERT_FALSE(events.empty());
  std::set<std::string> kinds;
  for (const auto& v : events) {
    ASSERT_TRUE(v.is_object());
    const json::object& e = v.as_object();
    for (const char* key : {"name", "ph", "ts", "pid", "tid"}) ASSERT_TRUE(e.contains(key)) << key << " in " << e;
    EXPECT_TRUE(e.at("ts").is_int64() || e.at("ts").is_uint64()) << e;
    EXPECT_TRUE(e.at("pid").is_int64()) << e;
    EXPECT_TRUE(e.at("tid").is_int64()) << e;
    std::string ph(e.at("ph").as_string());
    kinds.insert(ph);
    if (ph == "X") {
      ASSERT_TRUE(e.contains("dur")) << e;
      EXPECT_GE(num(e, "dur"), 0) << e;
    }
    if (ph == "i") {
      EXPECT_TRUE(e.contains("s")) << e;
    }
    if (ph == "M") {
      EXPECT_TRUE(e.at("args").as_object().contains("name") || e.at("args").as_object().contains("sort_index"));
    }
  }
  EXPECT_EQ(kinds, (std::set<std::string>{"M", "X", "i"}));
  EXPECT_EQ(root.at("otherData").as_object().at("np").as_int64(), 2);
}

TEST(ReportTraceTest, OneSlicePerTestOnItsSlotTrack) {
  BuiltRun run;
  for (int i = 0; i < 6; ++i) addTest(run.m, "t" + std::to_string(i));
  run.finish({{"t0", {0, 0, 100, Outcome::Pass}},
              {"t1", {1, 0, 300, Outcome::Fail}},
              {"t2", {0, 100, 250, Outcome::Skip}},
              {"t3", {1, 300, 400, Outcome::Timeout}},
              {"t4", {0, 250, 900, Outcome::Crash}}});  // t5 never started
  auto trace = run.trace();
  auto tests = eventsWith(trace, "X", "test");
  ASSERT_EQ(tests.size(), 5u);
  TraceTracks tracks{2};
  std::map<std::string, json::object> by_name;
  for (auto& e : tests) by_name[std::string(e.at("name").as_string())] = e;
  ASSERT_EQ(by_name.size(), 5u) << "one slice per test, no duplicates";
  EXPECT_FALSE(by_name.count("t5"));
  EXPECT_EQ(num(by_name["t1"], "tid"), tracks.slotTid(1));
  EXPECT_EQ(num(by_name["t1"], "ts"), 0);
  EXPECT_EQ(num(by_name["t1"], "dur"), 300);
  EXPECT_EQ(num(by_name["t4"], "tid"), tracks.slotTid(0));
  EXPECT_EQ(num(by_name["t4"], "dur"), 650);
  const json::object& args = by_name["t1"].at("args").as_object();
  EXPECT_EQ(args.at("outcome").as_string(), "FAIL");
  EXPECT_EQ(args.at("exit_code").as_int64(), 1);
  EXPECT_EQ(args.at("unit").as_string(), "u1");
  EXPECT_EQ(by_name["t3"].at("args").as_object().at("outcome").as_string(), "TIMEOUT");
  EXPECT_EQ(trace.at("otherData").as_object().at("tests_not_on_timeline").as_int64(), 1);

  // Every slot, the phases and sync tracks are named.
  std::map<int64_t, std::string> names;
  for (auto& e : eventsWith(trace, "M"))
    if (e.at("name").as_string() == "thread_name") names[num(e, "tid")] = std::string(e.at("args").at("name").as_string());
  EXPECT_EQ(names[tracks.slotTid(0)], "slot 0");
  EXPECT_EQ(names[tracks.slotTid(1)], "slot 1");
  EXPECT_EQ(names[tracks.phasesTid()], "phases");
  EXPECT_EQ(names[tracks.syncTid()], "sync");
}

TEST(ReportTraceTest, WindowsBarriersAndSyncOperations) {
  BuiltRun run;
  addTest(run.m, "iso1", "db", Strategy::IsolatedSerial);
  addTest(run.m, "iso2", "db", Strategy::IsolatedSerial);
  addTest(run.m, "free");
  run.finish({{"iso1", {0, 50, 200, Outcome::Pass}},
              {"iso2", {0, 200, 400, Outcome::Pass}},
              {"free", {0, 600, 900, Outcome::Pass}}});
  run.result.barriers.push_back({30, 450});
  run.info.sync_ops.push_back({"u1", "board.put", "k<&>", 200, "version 1", 100, 120});
  run.info.sync_ops.push_back({"u2", "lock.acquire", "L", 408, "timeout", 610, 700});
  auto trace = run.trace();
  TraceTracks tracks{2};

  auto windows = eventsWith(trace, "X", "isolated");
  ASSERT_EQ(windows.size(), 1u);
  EXPECT_EQ(num(windows[0], "tid"), tracks.phasesTid());
  EXPECT_EQ(num(windows[0], "ts"), 30);  // its unit's start, which the barrier's wait start bounds
  EXPECT_EQ(num(windows[0], "ts") + num(windows[0], "dur"), 450);  // the barrier's end
  auto pool = eventsWith(trace, "X", "pool");
  ASSERT_EQ(pool.size(), 1u);
  EXPECT_EQ(num(pool[0], "ts"), 600);  // its first test's start: no unit runs were recorded here
  EXPECT_EQ(num(pool[0], "ts") + num(pool[0], "dur"), 900);

  auto barriers = eventsWith(trace, "i", "barrier");
  ASSERT_EQ(barriers.size(), 1u);
  EXPECT_EQ(barriers[0].at("s").as_string(), "g");
  EXPECT_EQ(num(barriers[0], "ts"), 450);
  EXPECT_EQ(barriers[0].at("args").at("wait_us").as_int64(), 420);
  auto waits = eventsWith(trace, "X", "barrier");
  ASSERT_EQ(waits.size(), 1u);
  // The wait nests inside its window on the phases track.
  EXPECT_EQ(num(waits[0], "tid"), tracks.phasesTid());
  EXPECT_GE(num(waits[0], "ts"), num(windows[0], "ts"));
  EXPECT_LE(num(waits[0], "ts") + num(waits[0], "dur"), num(windows[0], "ts") + num(windows[0], "dur"));

  auto sync = eventsWith(trace, "i", "sync");
  ASSERT_EQ(sync.size(), 2u);
  for (auto& e : sync) EXPECT_EQ(num(e, "tid"), tracks.syncTid());
  EXPECT_EQ(num(sync[0], "ts"), 100);
  EXPECT_EQ(sync[0].at("args").at("key").as_string(), "k<&>");
  EXPECT_EQ(sync[0].at("args").at("unit").as_string(), "u1");
  EXPECT_EQ(sync[1].at("args").at("op").as_string(), "lock.acquire");
  EXPECT_EQ(sync[1].at("args").at("result").as_string(), "timeout");
  EXPECT_EQ(sync[1].at("args").at("duration_us").as_int64(), 90);

  // Timed events are in start order, so viewers nest the slices of one track.
  int64_t last = -1;
  for (const auto& v : trace.at("traceEvents").as_array()) {
    const json::object& e = v.as_object();
    if (e.at("ph").as_string() == "M") continue;
    EXPECT_GE(num(e, "ts"), last);
    last = num(e, "ts");
  }
}

TEST(ReportTraceTest, UnitSetUpAndTeardownAreSlices) {
  BuiltRun run;
  addTest(run.m, "s1", "ser", Strategy::Serial);
  addTest(run.m, "s2", "ser", Strategy::Serial);
  addTest(run.m, "broken", "bad", Strategy::Serial);
  run.finish({{"s1", {0, 100, 300, Outcome::Pass}}, {"s2", {0, 300, 700, Outcome::Pass}}});
  // The group "bad" failed its setup: its test has a slot, no times, and an ERROR.
  TestRecord& broken = run.result.records[2];
  broken.slot = 1;
  broken.outcome = Outcome::Error;
  broken.reason = "group setup failed";
  run.result.unit_runs = {{0, 0, 1, 40, 760}, {1, 1, 1, 45, 90}};
  auto trace = run.trace();
  TraceTracks tracks{2};

  auto units = eventsWith(trace, "X", "unit");
  ASSERT_EQ(units.size(), 2u);
  EXPECT_EQ(num(units[0], "ts"), 40);
  EXPECT_EQ(num(units[0], "dur"), 720);
  auto setups = eventsWith(trace, "X", "setup");
  auto teardowns = eventsWith(trace, "X", "teardown");
  ASSERT_EQ(setups.size(), 2u);
  ASSERT_EQ(teardowns.size(), 1u);
  EXPECT_EQ(num(setups[0], "ts"), 40);  // sandbox and group setup: until the first test
  EXPECT_EQ(num(setups[0], "dur"), 60);
  EXPECT_EQ(num(setups[0], "tid"), tracks.slotTid(0));
  EXPECT_EQ(num(teardowns[0], "ts"), 700);  // after the last test until the unit is gone
  EXPECT_EQ(num(teardowns[0], "dur"), 60);
  EXPECT_EQ(num(setups[1], "ts"), 45);  // the broken unit was all set-up
  EXPECT_EQ(num(setups[1], "dur"), 45);
  EXPECT_EQ(num(setups[1], "tid"), tracks.slotTid(1));

  // Still one slice per test: the broken one sits at its unit's end, with no duration.
  auto tests = eventsWith(trace, "X", "test");
  ASSERT_EQ(tests.size(), 3u);
  EXPECT_EQ(tests.back().at("name").as_string(), "s2");
  for (const auto& e : tests) {
    if (e.at("name").as_string() != "broken") continue;
    EXPECT_EQ(num(e, "ts"), 90);
    EXPECT_EQ(num(e, "dur"), 0);
    EXPECT_EQ(e.at("args").at("outcome").as_string(), "ERROR");
    EXPECT_FALSE(e.at("args").at("started").as_bool());
  }
}

TEST(ReportTraceTest, EarlierAttemptsAreTheirOwnSlices) {
  BuiltRun run;
  addTest(run.m, "flaky");
  run.finish({{"flaky", {0, 500, 800, Outcome::Flaky}}});
  TestRecord first = run.result.records[0];
  first.start_us = 100;
  first.end_us = 300;
  first.outcome = Outcome::Fail;
  run.result.records[0].earlier.push_back(first);
  run.result.records[0].attempts = 2;
  auto trace = run.trace();
  ASSERT_EQ(eventsWith(trace, "X", "test").size(), 1u);
  auto attempts = eventsWith(trace, "X", "attempt");
  ASSERT_EQ(attempts.size(), 1u);
  EXPECT_EQ(attempts[0].at("name").as_string(), "flaky (attempt 1)");
  EXPECT_EQ(num(attempts[0], "ts"), 100);
  EXPECT_EQ(attempts[0].at("args").at("outcome").as_string(), "FAIL");
}

TEST(ReportTraceTest, TheSchedulerRecordsEachUnitRun) {
  // The data the set-up and teardown slices come from, filled by the real scheduler.
  BuiltRun run;
  for (int i = 0; i < 6; ++i) addTest(run.m, "f" + std::to_string(i));
  addTest(run.m, "iso", "db", Strategy::IsolatedSerial);
  run.plan = makePlan(run.m, History{}, {});
  test::FakeRunner runner(run.plan, {});
  SchedulerOptions o;
  o.slots = 2;
  Scheduler scheduler(run.plan, run.m.tests.size(), runner, o);
  run.result = scheduler.run([&] { return runner.now(); });
  ASSERT_EQ(run.result.unit_runs.size(), run.plan.units.size());
  for (const UnitRun& u : run.result.unit_runs) {
    EXPECT_GE(u.end_us, u.start_us);
    for (size_t t : run.plan.units[u.unit].tests) {
      const TestRecord& r = run.result.records[t];
      EXPECT_EQ(r.slot, u.slot);
      EXPECT_LE(u.start_us, r.start_us);
      EXPECT_GE(u.end_us, r.end_us);
    }
  }
  run.info.np = 2;
  run.info.wall_us = runner.now();
  auto trace = run.trace();
  EXPECT_EQ(eventsWith(trace, "X", "test").size(), 7u);
  EXPECT_EQ(eventsWith(trace, "X", "unit").size(), 7u);
  EXPECT_EQ(eventsWith(trace, "i", "barrier").size(), 1u);
}

TEST(ReportTraceTest, InterruptedTestEndsAtTheWallTime) {
  BuiltRun run;
  addTest(run.m, "hung");
  run.finish({{"hung", {0, 100, -1, Outcome::NotRun}}});
  run.result.interrupted = true;
  auto tests = eventsWith(run.trace(), "X", "test");
  ASSERT_EQ(tests.size(), 1u);
  EXPECT_EQ(num(tests[0], "dur"), run.info.wall_us - 100);
  EXPECT_EQ(tests[0].at("args").at("outcome").as_string(), "NOT_RUN");
}

TEST(ReportTraceTest, ResourceInstancesHaveTracksAndWaitsAreAsyncSlices) {
  BuiltRun r;
  r.m.resources = {{"gpu", 2}};
  for (const char* name : {"a", "b", "c"}) {
    addTest(r.m, name);
    r.m.tests.back().resources = {{"gpu", 1}};
  }
  r.finish({{"a", {0, 10, 4000, Outcome::Pass}}, {"b", {1, 10, 3000, Outcome::Pass}}, {"c", {1, 3100, 6000, Outcome::Pass}}});
  r.result.unit_runs = {{0, 0, 1, 0, 4100, {{"gpu", {0}}}},
                        {1, 1, 1, 0, 3050, {{"gpu", {1}}}},
                        {2, 1, 1, 3060, 6100, {{"gpu", {1}}}}};
  r.result.resource_waits = {{2, 1, 0, 3060, {"gpu"}, true}};
  json::object trace = r.trace();
  TraceTracks tracks{2};
  std::map<int64_t, std::string> names;
  std::vector<json::object> holds, begins, ends;
  for (const auto& v : trace.at("traceEvents").as_array()) {
    const auto& e = v.as_object();
    std::string ph(e.at("ph").as_string());
    std::string cat = e.contains("cat") ? std::string(e.at("cat").as_string()) : "";
    if (ph == "M" && e.at("name") == "thread_name") names[e.at("tid").to_number<int64_t>()] = e.at("args").at("name").as_string();
    if (ph == "X" && cat == "resource") holds.push_back(e);
    if (cat == "resource_wait") (ph == "b" ? begins : ends).push_back(e);
  }
  EXPECT_EQ(names[tracks.instanceTid(0)], "gpu 0");
  EXPECT_EQ(names[tracks.instanceTid(1)], "gpu 1");
  ASSERT_EQ(holds.size(), 3u);
  for (const auto& h : holds) {
    int64_t instance = h.at("args").at("instance").to_number<int64_t>();
    EXPECT_EQ(h.at("tid").to_number<int64_t>(), tracks.instanceTid(int(instance)));
  }
  ASSERT_EQ(begins.size(), 1u);
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_EQ(begins[0].at("id"), ends[0].at("id"));
  EXPECT_EQ(begins[0].at("name"), "wait for gpu: c");
  EXPECT_EQ(begins[0].at("ts").to_number<int64_t>(), 0);
  EXPECT_EQ(ends[0].at("ts").to_number<int64_t>(), 3060);
  EXPECT_EQ(begins[0].at("args").at("wait_us").to_number<int64_t>(), 3060);
}

}  // namespace
}  // namespace mpexec
