#include "executor/import/import_gtest.h"

#include <unistd.h>

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

}  // namespace

Result<GtestImport> importGtest(const std::vector<std::string>& bins, const GtestListOptions& opts) {
  GtestImport out;
  json::array tests;
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
    for (const std::string& c : *cases)
      tests.push_back(json::object{{"name", base + "." + c}, {"cmd", json::array{bin, "--gtest_filter=" + c}}});
  }
  out.manifest = json::serialize(json::object{{"version", 1}, {"tests", std::move(tests)}}) + "\n";
  return out;
}

int importGtestMain(int argc, char** argv) {
  std::vector<std::string> bins;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "-h" || a == "--help") {
      fmt::print("usage: mpexec import gtest BIN...\n"
                 "  writes a manifest with one test per enabled GoogleTest case of each BIN to stdout\n");
      return 0;
    }
    if (a.starts_with("-")) {
      fmt::print(stderr, "mpexec import gtest: unknown option '{}'\n", a);
      return 2;
    }
    bins.emplace_back(a);
  }
  if (bins.empty()) {
    fmt::print(stderr, "usage: mpexec import gtest BIN...\n");
    return 2;
  }
  auto imported = importGtest(bins);
  if (!imported.ok()) {
    fmt::print(stderr, "mpexec import gtest: {}\n", printable(imported.error().message()));
    return 2;
  }
  for (const auto& w : imported->warnings) fmt::print(stderr, "mpexec import gtest: {}\n", printable(w));
  fmt::print("{}", imported->manifest);
  return 0;
}

}  // namespace mpexec
