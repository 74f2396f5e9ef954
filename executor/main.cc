// mpexec's entry point: a table of subtools, then the runner.

#include <cstring>

#include <fmt/format.h>

#include "executor/config.h"
#include "executor/import/import.h"
#include "executor/reports/merge.h"
#include "sync-service/sync_cli.h"

namespace {

struct Subtool {
  const char* name;
  int (*main)(int argc, char** argv);  ///< argv[0] is the subtool's name
};

constexpr Subtool kSubtools[] = {
    {"sync", mpexec::sync::syncMain},
    {"import", mpexec::importMain},
    {"merge", mpexec::mergeMain},
};

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) {
    for (const Subtool& t : kSubtools)
      if (strcmp(argv[1], t.name) == 0) return t.main(argc - 1, argv + 1);
  }
  mpexec::Config config;
  if (int rc = mpexec::parseCommandLine(argc, argv, config); rc >= 0) return rc;
  return mpexec::run(config);
}
