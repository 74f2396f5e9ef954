#include "executor/import/import.h"

#include <cstring>

#include <fmt/format.h>

#include "executor/import/import_ctest.h"
#include "executor/import/import_gtest.h"

namespace mpexec {

namespace {

struct Importer {
  const char* name;
  int (*main)(int argc, char** argv);  ///< argv[0] is the importer's name
};

constexpr Importer kImporters[] = {
    {"gtest", importGtestMain},
    {"ctest", importCtestMain},
};

}  // namespace

int importMain(int argc, char** argv) {
  if (argc > 1) {
    for (const Importer& i : kImporters)
      if (strcmp(argv[1], i.name) == 0) return i.main(argc - 1, argv + 1);
  }
  bool help = argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0);
  fmt::print(help ? stdout : stderr,
             "usage: mpexec import gtest BIN...\n"
             "       mpexec import ctest BUILD_DIR [-C CONFIG] [--timeout S]\n"
             "  writes a manifest to stdout (see docs/ci.md for the mappings)\n");
  return help ? 0 : 2;
}

}  // namespace mpexec
