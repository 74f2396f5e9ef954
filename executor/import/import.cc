#include "executor/import/import.h"

#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "executor/closest.h"
#include "executor/import/import_ctest.h"
#include "executor/import/import_gtest.h"
#include "executor/import/import_python.h"

namespace mpexec {

namespace {

struct Importer {
  const char* name;
  int (*main)(int argc, char** argv);  ///< argv[0] is the importer's name
  const char* usage;                   ///< what follows `mpexec import NAME`
};

constexpr Importer kImporters[] = {
    {"gtest", importGtestMain, "BIN..."},
    {"ctest", importCtestMain, "BUILD_DIR [-C CONFIG] [--timeout S]"},
    {"pytest", importPytestMain, "[--python PY] [--group-by test|class|module|chunks] [PYTEST ARGS...]"},
    {"unittest", importUnittestMain, "[--python PY] [--group-by test|class|module|chunks] [START_DIR]"},
};

void printUsage(FILE* out) {
  for (const Importer& i : kImporters)
    fmt::print(out, "{} mpexec import {} {}\n", &i == kImporters ? "usage:" : "      ", i.name, i.usage);
  fmt::print(out, "  writes a manifest to stdout (docs/ci.md, docs/python.md)\n");
}

}  // namespace

int importMain(int argc, char** argv) {
  if (argc > 1) {
    for (const Importer& i : kImporters)
      if (strcmp(argv[1], i.name) == 0) return i.main(argc - 1, argv + 1);
  }
  bool help = argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0);
  if (help) {
    printUsage(stdout);
    return 0;
  }
  std::vector<std::string> names;
  for (const Importer& i : kImporters) names.emplace_back(i.name);
  std::string known;
  for (const std::string& n : names) known += (known.empty() ? "" : ", ") + n;
  if (argc > 1) {
    std::string msg = fmt::format("mpexec import: unknown importer '{}'", argv[1]);
    if (auto near = closestMatch(argv[1], names)) msg += fmt::format("; did you mean '{}'?", *near);
    fmt::print(stderr, "{} (the importers are: {})\n", msg, known);
  } else {
    fmt::print(stderr, "mpexec import: which importer? (the importers are: {})\n", known);
  }
  printUsage(stderr);
  return 2;
}

}  // namespace mpexec
