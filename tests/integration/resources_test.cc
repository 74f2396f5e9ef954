// Resources with the real binary: never more of a resource taken than exist, checked from the JSON
// report's start and end times; each test told its instances; the waits on the timelines; a need that can
// never be met refused before anything runs.

#include <unistd.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "tests/integration/sandbox_modes.h"
#include "tests/support/mpexec_process.h"
#include "tests/support/temp_dir.h"

namespace mpexec {
namespace {

namespace json = boost::json;
using test::readFile;
using test::readJson;
using test::runMpexec;

/// Three GPU tests and two others; each prints the instances it was given.
constexpr const char* kManifest = R"({"version": 1, "resources": {"gpu": 2},
  "tests": [
    {"name": "gpu.a", "cmd": ["/bin/sh", "-c", "echo gpu=$MPEXEC_RESOURCE_GPU; sleep 0.5"], "resources": {"gpu": 1}},
    {"name": "gpu.b", "cmd": ["/bin/sh", "-c", "echo gpu=$MPEXEC_RESOURCE_GPU; sleep 0.5"], "resources": {"gpu": 1}},
    {"name": "gpu.c", "cmd": ["/bin/sh", "-c", "echo gpu=$MPEXEC_RESOURCE_GPU; sleep 0.5"], "resources": {"gpu": 1}},
    {"name": "cpu.a", "cmd": ["/bin/sh", "-c", "echo gpu=${MPEXEC_RESOURCE_GPU-none}"]},
    {"name": "cpu.b", "cmd": ["/bin/sh", "-c", "echo gpu=${MPEXEC_RESOURCE_GPU-none}"]}]})";

struct Span {
  std::string name;
  int64_t start = 0, end = 0;
  std::vector<int> gpus;
};

std::vector<Span> gpuSpans(const json::object& report) {
  std::vector<Span> out;
  for (const auto& v : report.at("tests").as_array()) {
    const auto& t = v.as_object();
    const auto& held = t.at("resources").as_object();
    if (!held.contains("gpu")) continue;
    Span s{std::string(t.at("name").as_string()), t.at("start_us").to_number<int64_t>(), t.at("end_us").to_number<int64_t>(), {}};
    for (const auto& i : held.at("gpu").as_array()) s.gpus.push_back(int(i.to_number<int64_t>()));
    out.push_back(std::move(s));
  }
  return out;
}

/// The most GPUs held at once, and whether two tests that overlapped in time held the same one.
std::pair<size_t, bool> mostAtOnce(const std::vector<Span>& spans) {
  size_t most = 0;
  bool shared = false;
  for (const Span& a : spans) {
    size_t held = 0;
    for (const Span& b : spans) {
      if (!(b.start <= a.start && a.start < b.end)) continue;
      held += b.gpus.size();
      if (&a == &b) continue;
      for (int x : a.gpus) shared |= std::count(b.gpus.begin(), b.gpus.end(), x) > 0;
    }
    most = std::max(most, held);
  }
  return {most, shared};
}

class ResourcesTest : public test::SandboxModesTest {
 protected:
  test::Finished run(std::vector<std::string> args) { return runMpexec(inMode(std::move(args))); }
  std::string path(const std::string& name) const { return dir_.path() + "/" + name; }
};

TEST_P(ResourcesTest, ThreeGpuTestsOnTwoGpusAtJ4NeverOverlapBeyondTwo) {
  std::string m = dir_.write("m.json", kManifest);
  auto r = run({"-q", "-j", "4", "--json", path("r.json"), "--trace", path("t.json"), "--html", path("r.html"), m});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto rep = readJson(path("r.json"));
  EXPECT_EQ(json::serialize(rep.at("run").at("resources")), R"({"gpu":2})");

  std::vector<Span> spans = gpuSpans(rep);
  ASSERT_EQ(spans.size(), 3u);
  auto [most, shared] = mostAtOnce(spans);
  EXPECT_EQ(most, 2u);
  EXPECT_FALSE(shared);
  // The third started only once one of the first two had ended.
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.start < b.start; });
  EXPECT_GE(spans[2].start, std::min(spans[0].end, spans[1].end));

  // Each was told the instance the report says it held; the others were told nothing.
  for (const Span& s : spans) {
    ASSERT_EQ(s.gpus.size(), 1u) << s.name;
    std::string log = readFile(dir_.path() + "/" + std::string(test::testEntry(rep, s.name).at("log").as_string()));
    EXPECT_EQ(log, "gpu=" + std::to_string(s.gpus[0]) + "\n") << s.name;
  }
  for (const char* cpu : {"cpu.a", "cpu.b"}) {
    const auto& t = test::testEntry(rep, cpu);
    EXPECT_TRUE(t.at("resources").as_object().empty());
    EXPECT_EQ(readFile(dir_.path() + "/" + std::string(t.at("log").as_string())), "gpu=none\n");
  }

  // The wait is on record and on both timelines.
  const auto& waits = rep.at("resource_waits").as_array();
  ASSERT_EQ(waits.size(), 1u) << json::serialize(waits);
  EXPECT_EQ(json::serialize(waits[0].at("resources")), R"(["gpu"])");
  EXPECT_EQ(waits[0].at("started"), true);
  auto trace = readJson(path("t.json"));
  int begins = 0, ends = 0, holds = 0;
  std::vector<std::string> tracks;
  for (const auto& e : trace.at("traceEvents").as_array()) {
    const auto& o = e.as_object();
    std::string ph(o.at("ph").as_string()), cat = o.contains("cat") ? std::string(o.at("cat").as_string()) : "";
    if (cat == "resource_wait") (ph == "b" ? begins : ends) += 1;
    if (ph == "X" && cat == "resource") ++holds;
    if (ph == "M" && o.at("name") == "thread_name") tracks.emplace_back(o.at("args").at("name").as_string());
  }
  EXPECT_EQ(begins, 1);
  EXPECT_EQ(ends, 1);
  EXPECT_EQ(holds, 3);
  EXPECT_NE(std::find(tracks.begin(), tracks.end(), "gpu 1"), tracks.end());
  std::string html = readFile(path("r.html"));
  EXPECT_NE(html.find("<rect class=\"rwait\""), std::string::npos);
  EXPECT_NE(html.find(">gpu 1</text>"), std::string::npos);
}

TEST_P(ResourcesTest, TheCommandLineCountReplacesTheManifests) {
  std::string m = dir_.write("m.json", kManifest);
  auto r = run({"-q", "-j", "4", "--resources", "gpu=1", "--json", path("r.json"), m});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto rep = readJson(path("r.json"));
  EXPECT_EQ(json::serialize(rep.at("run").at("resources")), R"({"gpu":1})");
  EXPECT_EQ(mostAtOnce(gpuSpans(rep)).first, 1u);
  EXPECT_EQ(rep.at("resource_waits").as_array().size(), 2u);
}

TEST_P(ResourcesTest, ASerialGroupHoldsItsMostForItsWholeLifeAndEachCommandIsToldItsShare) {
  std::string m = dir_.write("m.json", R"({"version": 1, "resources": {"gpu": 2, "db": 1},
    "groups": {"g": {"strategy": "serial", "resources": {"db": 1},
                     "setup": ["/bin/sh", "-c", "echo setup db=$MPEXEC_RESOURCE_DB gpu=${MPEXEC_RESOURCE_GPU-none}"]}},
    "tests": [
      {"name": "one", "group": "g", "cmd": ["/bin/sh", "-c", "echo $MPEXEC_RESOURCE_GPU $MPEXEC_RESOURCE_DB"], "resources": {"gpu": 1}},
      {"name": "two", "group": "g", "cmd": ["/bin/sh", "-c", "echo $MPEXEC_RESOURCE_GPU"], "resources": {"gpu": 2, "db": 0}},
      {"name": "other", "cmd": ["/bin/sh", "-c", "echo $MPEXEC_RESOURCE_GPU"], "resources": {"gpu": 1}}]})");
  auto r = run({"-q", "-j", "2", "--json", path("r.json"), m});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto rep = readJson(path("r.json"));
  auto log = [&](const char* name) {
    return readFile(dir_.path() + "/" + std::string(test::testEntry(rep, name).at("log").as_string()));
  };
  EXPECT_EQ(log("one"), "0 0\n");
  EXPECT_EQ(log("two"), "0,1\n");
  EXPECT_EQ(json::serialize(test::testEntry(rep, "two").at("resources")), R"({"gpu":[0,1]})");
  // The unit held both GPUs from its start to its end, so the other test ran before or after it, never
  // beside it, though a slot was free.
  const auto& one = test::testEntry(rep, "one");
  const auto& two = test::testEntry(rep, "two");
  const auto& other = test::testEntry(rep, "other");
  int64_t o_start = other.at("start_us").to_number<int64_t>(), o_end = other.at("end_us").to_number<int64_t>();
  EXPECT_TRUE(o_end <= one.at("start_us").to_number<int64_t>() || o_start >= two.at("end_us").to_number<int64_t>())
      << json::serialize(rep.at("tests"));
  for (const auto& u : rep.at("units").as_array()) {
    if (u.at("name") == "g") {
      EXPECT_EQ(json::serialize(u.at("resources")), R"({"db":1,"gpu":2})");
    }
  }
  std::string setup_log = readFile(path(".mpexec/runs/" + std::string(rep.at("run").at("id").as_string()) + "/logs/" +
                                        std::string(one.at("unit").as_string()) + "~setup.log"));
  EXPECT_EQ(setup_log, "setup db=0 gpu=none\n");
}

TEST_P(ResourcesTest, ANeedThatCanNeverBeMetIsRefusedBeforeAnythingRuns) {
  std::string marker = path("ran");
  std::string m = dir_.write("m.json", R"({"version": 1, "resources": {"gpu": 2}, "tests": [
    {"name": "first", "cmd": ["/bin/sh", "-c", "touch )" + marker + R"("]},
    {"name": "big", "cmd": ["/bin/true"], "resources": {"gpu": 3}}]})");
  auto r = run({"-q", m});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find(m + ": /tests/1/resources/gpu: needs 3 gpu, but 2 exist (/resources/gpu), so it could never run"),
            std::string::npos)
      << r.out;
  EXPECT_NE(access(marker.c_str(), F_OK), 0);

  auto bad = run({"-q", "--resources", "gpu=two", m});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.out.find("mpexec: --resources: expected a count from 0 to 1024 for gpu, got 'two'"), std::string::npos)
      << bad.out;
}

TEST_P(ResourcesTest, TwoTestsNeedingTheOneGpuNeverOverlap) {
  std::string m = dir_.write("m.json", R"({"version": 1, "resources": {"gpu": 1}, "tests": [
    {"name": "a", "cmd": ["/bin/sh", "-c", "echo $MPEXEC_RESOURCE_GPU; sleep 0.3"], "resources": {"gpu": 1}},
    {"name": "b", "cmd": ["/bin/sh", "-c", "echo $MPEXEC_RESOURCE_GPU; sleep 0.3"], "resources": {"gpu": 1}}]})");
  auto r = run({"-q", "-j", "2", "--json", path("r.json"), m});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto rep = readJson(path("r.json"));
  std::vector<Span> spans = gpuSpans(rep);
  ASSERT_EQ(spans.size(), 2u);
  std::sort(spans.begin(), spans.end(), [](const Span& x, const Span& y) { return x.start < y.start; });
  EXPECT_LE(spans[0].end, spans[1].start) << json::serialize(rep.at("tests"));
  for (const Span& s : spans) EXPECT_EQ(s.gpus, std::vector<int>{0}) << s.name;
}

TEST_P(ResourcesTest, TwoTestsRunningTogetherOnTwoGpusGetOneEach) {
  // Each waits for the other to have started, so they must run at the same time to pass.
  std::string wait = "touch \"$D/$MPEXEC_TEST_NAME\"; i=0; until [ -e \"$D/$0\" ]; do i=$((i+1)); "
                     "[ $i -gt 400 ] && exit 9; sleep 0.05; done; echo $MPEXEC_RESOURCE_GPU";
  json::object manifest{
      {"version", 1},
      {"resources", {{"gpu", 2}}},
      {"defaults", {{"env", {{"D", dir_.path()}}}, {"sandbox", {{"writable", json::array{dir_.path()}}}}}},
      {"tests", json::array{json::object{{"name", "a"}, {"cmd", json::array{"/bin/sh", "-c", wait, "b"}}, {"resources", {{"gpu", 1}}}},
                            json::object{{"name", "b"}, {"cmd", json::array{"/bin/sh", "-c", wait, "a"}}, {"resources", {{"gpu", 1}}}}}}};
  std::string m = dir_.write("m.json", json::serialize(manifest));
  auto r = run({"-q", "-j", "2", "--json", path("r.json"), m});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto rep = readJson(path("r.json"));
  auto log = [&](const char* name) {
    return readFile(dir_.path() + "/" + std::string(test::testEntry(rep, name).at("log").as_string()));
  };
  std::set<std::string> ids{log("a"), log("b")};
  EXPECT_EQ(ids, (std::set<std::string>{"0\n", "1\n"}));
}

TEST_P(ResourcesTest, CtestsResourceGroupsAreToldAsCtestTellsThem) {
  std::string spec = dir_.write("spec.json", R"({"version": {"major": 1, "minor": 0}, "local": [
    {"gpus": [{"id": "0", "slots": 1}, {"id": "1", "slots": 1}, {"id": "2", "slots": 1}], "crypto": [{"id": "c0", "slots": 4}]}]})");
  std::string m = dir_.write("m.json", R"({"version": 1, "tests": [
    {"name": "groups", "cmd": ["/bin/sh", "-c", "env | grep ^CTEST_RESOURCE | sort"],
     "resource_groups": [{"gpus": 1}, {"gpus": 1}, {"gpus": 1, "crypto": 2}]},
    {"name": "plain", "cmd": ["/bin/sh", "-c", "env | grep -c ^CTEST_RESOURCE; true"], "resources": {"gpus": 1}}]})");
  auto r = run({"-q", "-j", "2", "--resource-spec-file", spec, "--json", path("r.json"), m});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto rep = readJson(path("r.json"));
  EXPECT_EQ(json::serialize(rep.at("run").at("resources")), R"({"crypto":1,"gpus":3})");
  auto log = [&](const char* name) {
    return readFile(dir_.path() + "/" + std::string(test::testEntry(rep, name).at("log").as_string()));
  };
  // What ctest -V printed for the same test and specification (ids 0, 1, 2; "c0" is mpexec's instance 0).
  EXPECT_EQ(log("groups"),
            "CTEST_RESOURCE_GROUP_0=gpus\nCTEST_RESOURCE_GROUP_0_GPUS=id:0,slots:1\n"
            "CTEST_RESOURCE_GROUP_1=gpus\nCTEST_RESOURCE_GROUP_1_GPUS=id:1,slots:1\n"
            "CTEST_RESOURCE_GROUP_2=crypto,gpus\nCTEST_RESOURCE_GROUP_2_CRYPTO=id:0,slots:2\n"
            "CTEST_RESOURCE_GROUP_2_GPUS=id:2,slots:1\nCTEST_RESOURCE_GROUP_COUNT=3\n");
  EXPECT_EQ(log("plain"), "0\n");

  // Without the specification the need has nothing to come from; a broken one is named.
  auto none = run({"-q", m});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.out.find("/tests/0/resource_groups/0/gpus: resource \"gpus\" is not declared"), std::string::npos) << none.out;
  auto small = run({"-q", "--resources", "gpus=2,crypto=1", m});
  EXPECT_EQ(small.exit_code, 2);
  EXPECT_NE(small.out.find("/tests/0/resource_groups/2/gpus: needs 3 gpus, but 2 exist (--resources)"), std::string::npos)
      << small.out;
  std::string bad = dir_.write("bad.json", R"({"version": {"major": 1, "minor": 0}, "local": [{"gpus": [{"slots": 1}]}]})");
  auto broken = run({"-q", "--resource-spec-file", bad, m});
  EXPECT_EQ(broken.exit_code, 2);
  EXPECT_NE(broken.out.find("mpexec: --resource-spec-file: " + bad + ": /local/0/gpus/0: expected {\"id\": STRING"),
            std::string::npos) << broken.out;
}

INSTANTIATE_TEST_SUITE_P(Modes, ResourcesTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "sandbox" : "no_sandbox"; });

}  // namespace
}  // namespace mpexec
