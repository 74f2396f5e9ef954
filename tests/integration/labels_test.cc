// Labels with the real binary: -L and --exclude-label select as ctest's -L and -LE do, and every report
// (JSON, JUnit, HTML) carries the labels of the tests it holds.

#include <set>
#include <string>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "tests/support/mpexec_process.h"
#include "tests/support/temp_dir.h"

namespace mpexec {
namespace {

namespace json = boost::json;
using test::readFile;
using test::readJson;
using test::runMpexec;

constexpr const char* kManifest = R"({"version": 1, "tests": [
  {"name": "gpu.small", "cmd": ["/bin/true"], "labels": ["gpu", "fast"]},
  {"name": "gpu.big", "cmd": ["/bin/sh", "-c", "echo big; exit 1"], "labels": ["gpu", "slow"]},
  {"name": "cpu.small", "cmd": ["/bin/true"], "labels": ["fast"]},
  {"name": "plain", "cmd": ["/bin/true"]},
  {"name": "odd", "cmd": ["/bin/true"], "labels": ["a&b <c>"]}]})";

std::set<std::string> names(const json::object& report) {
  std::set<std::string> out;
  for (const auto& t : report.at("tests").as_array()) out.emplace(t.as_object().at("name").as_string());
  return out;
}

class LabelsTest : public ::testing::Test {
 protected:
  test::Finished run(std::vector<std::string> args) {
    std::vector<std::string> all = {"--no-sandbox", "-q", "--json", path("r.json"), "--junit", path("r.xml"),
                                    "--html", path("r.html")};
    all.insert(all.end(), args.begin(), args.end());
    all.push_back(manifest_);
    return runMpexec(all);
  }
  std::string path(const std::string& name) const { return dir_.path() + "/" + name; }
  test::TempDir dir_;
  std::string manifest_ = dir_.write("m.json", kManifest);
};

TEST_F(LabelsTest, LabelSelectsAndEveryReportCarriesTheLabels) {
  auto r = run({"-L", "gpu"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  auto rep = readJson(path("r.json"));
  EXPECT_EQ(names(rep), (std::set<std::string>{"gpu.small", "gpu.big"}));
  EXPECT_EQ(json::serialize(test::testEntry(rep, "gpu.big").at("labels")), R"(["gpu","slow"])");

  std::string xml = readFile(path("r.xml"));
  EXPECT_NE(xml.find("<property name=\"label\" value=\"gpu\"/>\n        <property name=\"label\" value=\"slow\"/>"),
            std::string::npos)
      << xml;
  EXPECT_EQ(xml.find("cpu.small"), std::string::npos) << xml;
  if (test::shell("command -v xmllint >/dev/null") == 0) {
    std::string lint;
    EXPECT_EQ(test::shell("xmllint --noout '" + path("r.xml") + "'", &lint), 0) << lint;
  }

  std::string html = readFile(path("r.html"));
  EXPECT_NE(html.find("data-test=\"gpu.big\" data-labels=\"gpu, slow\""), std::string::npos) << html;
  EXPECT_NE(html.find("labels: gpu, fast"), std::string::npos);   // the bar's hover text
  EXPECT_NE(html.find(" · labels gpu, slow"), std::string::npos);  // the failure's details
}

TEST_F(LabelsTest, RepeatedOptionsNeedAMatchForEach) {
  ASSERT_EQ(run({"-L", "gpu", "--label", "fast"}).exit_code, 0);
  EXPECT_EQ(names(readJson(path("r.json"))), (std::set<std::string>{"gpu.small"}));

  // Left out only when every --exclude-label matches: a test without labels always stays.
  ASSERT_EQ(run({"--exclude-label", "gpu", "--exclude-label", "slow"}).exit_code, 0);
  EXPECT_EQ(names(readJson(path("r.json"))), (std::set<std::string>{"gpu.small", "cpu.small", "plain", "odd"}));

  ASSERT_EQ(run({"--label=fast", "--exclude-label=gpu"}).exit_code, 0);
  EXPECT_EQ(names(readJson(path("r.json"))), (std::set<std::string>{"cpu.small"}));
}

TEST_F(LabelsTest, LabelsAreEscapedInEveryReport) {
  ASSERT_EQ(run({"-L", "&"}).exit_code, 0);
  EXPECT_EQ(json::serialize(test::testEntry(readJson(path("r.json")), "odd").at("labels")), R"(["a&b <c>"])");
  EXPECT_NE(readFile(path("r.xml")).find("value=\"a&amp;b &lt;c&gt;\""), std::string::npos);
  EXPECT_NE(readFile(path("r.html")).find("data-labels=\"a&amp;b &lt;c&gt;\""), std::string::npos);
}

TEST_F(LabelsTest, ABadLabelExpressionIsAUsageError) {
  auto r = run({"-L", "("});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("--label: not a valid regular expression '('"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace mpexec
