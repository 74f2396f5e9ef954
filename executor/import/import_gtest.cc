#include "executor/import/import_gtest.h"

#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string_view>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "executor/manifest.h"
#include "executor/printable.h"
#include "executor/utf8.h"

namespace mpexec {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

// The manifest runs anywhere only if its commands do not depend on the importer's directory or PATH.
std::string absoluteProgram(const std::string& bin) {
  if (bin.find('/') == std::string::npos) {
    const char* path = getenv("PATH");
    std::string_view dirs = path ? path : "/usr/bin:/bin";
    while (true) {
      std::size_t colon = dirs.find(':');
      std::string dir(dirs.substr(0, colon));
      std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + bin;
      if (access(candidate.c_str(), X_OK) == 0) return fs::absolute(candidate).lexically_normal().string();
      if (colon == std::string_view::npos) break;
      dirs.remove_prefix(colon + 1);
    }
    return bin;
  }
  std::error_code ec;
  fs::path abs = fs::absolute(bin, ec);
  return ec ? bin : abs.lexically_normal().string();
}

/// A group name for `key` ([A-Za-z0-9._-]{1,128}, unique among `used`).
std::string groupName(const std::string& key, std::map<std::string, int>& used) {
  std::string name;
  for (char c : key) name += std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ? c : '_';
  name = name.substr(0, 120);
  if (name.empty() || name == "." || name == "..") name = "_" + name;
  std::string unique = name;
  for (int k = 2; used.count(unique); ++k) unique = fmt::format("{}-{}", name, k);
  used[unique] = 1;
  return unique;
}

/// How a gtest batch's output says that a case starts and ends (docs/manifest.md, "Batch groups").
json::object gtestLines() {
  return {{"started", "^\\[ RUN      \\] (\\S+)$"},
          {"pass", "^\\[       OK \\] (\\S+) \\(\\d+ ms\\)$"},
          {"fail", "^\\[  FAILED  \\] ([^ ,]+)(, where .*)? \\(\\d+ ms\\)$"},
          {"skip", "^\\[  SKIPPED \\] (\\S+) \\(\\d+ ms\\)$"}};
}

}  // namespace

Result<GtestImport> importGtest(const std::vector<std::string>& bins, const GtestListOptions& opts, GtestLayout layout) {
  GtestImport out;
  json::array tests;
  json::object groups;
  std::map<std::string, int> used_groups;
  std::map<std::string, std::string> by_basename;  // basename → the binary that claimed it
  for (const std::string& given : bins) {
    std::string bin = absoluteProgram(given);
    std::string base = fs::path(bin).filename().string();
    // The basename starts every test name, which terminals show; a manifest holds only UTF-8.
    if (!isValidUtf8(bin) || !isValidTestName(base)) {
      return Error{{}, 0, fmt::format("{}: a binary's path must be UTF-8, and its file name not empty and without "
                                      "control characters, to give test names",
                                      printable(bin))};
    }
    auto [it, fresh] = by_basename.emplace(base, bin);
    if (!fresh) {
      return Error{{}, 0,
                   fmt::format("{} and {} share the basename {}, so their tests' names would collide; "
                               "import them separately and rename one",
                               it->second, bin, base)};
    }
    auto cases = listGtestCases(bin, opts);
    if (!cases.ok()) {
      out.warnings.push_back(fmt::format("warning: cannot list {}: {}; kept as a {{\"gtest\": ...}} entry, "
                                         "which fails at run time unless it can be listed then",
                                         bin, cases.error().message()));
      tests.push_back(json::object{{"gtest", bin}});
      continue;
    }
    if (cases->empty()) out.warnings.push_back(fmt::format("warning: {} lists no enabled test", bin));
    if (layout == GtestLayout::OneProcessPerCase) {
      for (const std::string& c : *cases)
        tests.push_back(json::object{{"name", base + "." + c}, {"cmd", json::array{bin, "--gtest_filter=" + c}}});
      continue;
    }
    // A batch group per suite: its cases run in one process, selected by --gtest_filter.
    std::map<std::string, std::string> group_of;  // suite → group
    for (const std::string& c : *cases) {
      std::string suite = c.substr(0, c.find('.'));
      auto [it, fresh] = group_of.try_emplace(suite);
      if (fresh) {
        it->second = groupName(base + "." + suite, used_groups);
        json::object batch{{"cmd", json::array{bin, "--gtest_filter={ids::}", "--gtest_output=xml:{junit}"}},
                           {"lines", gtestLines()}};
        groups[it->second] = json::object{{"strategy", "serial"}, {"batch", std::move(batch)}};
      }
      tests.push_back(json::object{{"name", base + "." + c}, {"group", it->second}, {"id", c}});
    }
  }
  json::object manifest{{"version", 1}};
  if (!groups.empty()) manifest["groups"] = std::move(groups);
  manifest["tests"] = std::move(tests);
  out.manifest = json::serialize(manifest) + "\n";
  return out;
}

int importGtestMain(int argc, char** argv) {
  std::vector<std::string> bins;
  GtestLayout layout = GtestLayout::OneProcessPerCase;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "-h" || a == "--help") {
      fmt::print("usage: mpexec import gtest [--batch] BIN...\n"
                 "  writes a manifest with one test per enabled GoogleTest case of each BIN to stdout\n"
                 "  --batch  each suite is a batch group: its cases run in one process (docs/manifest.md)\n");
      return 0;
    }
    if (a == "--batch") {
      layout = GtestLayout::BatchPerSuite;
      continue;
    }
    if (a.starts_with("-")) {
      fmt::print(stderr, "mpexec import gtest: unknown option '{}'\n", a);
      return 2;
    }
    bins.emplace_back(a);
  }
  if (bins.empty()) {
    fmt::print(stderr, "usage: mpexec import gtest [--batch] BIN...\n");
    return 2;
  }
  auto imported = importGtest(bins, {}, layout);
  if (!imported.ok()) {
    fmt::print(stderr, "mpexec import gtest: {}\n", printable(imported.error().message()));
    return 2;
  }
  for (const auto& w : imported->warnings) fmt::print(stderr, "mpexec import gtest: {}\n", printable(w));
  fmt::print("{}", imported->manifest);
  return 0;
}

}  // namespace mpexec
