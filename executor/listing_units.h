#pragma once
// The listings a manifest asks for while it loads ({"gtest": BIN} entries: `BIN --gtest_list_tests`), run
// in sandbox units. A binary named by a manifest may be one that a unit of an earlier run replaced through a
// writable path; listed on the host it would run as the invoking user (root in CI) with nothing around it.
// Each listing is a unit of its own, with the sandbox of the tests it lists, run by the same runner and
// scheduler as those tests; its output is read back from its log.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "executor/manifest.h"
#include "sandbox/context.h"
#include "sandbox/result.h"
#include "sandbox/spawner.h"

namespace mpexec {

/// One listing loadManifest asked for (ManifestOptions::list_gtest's arguments).
struct ListingRequest {
  std::string bin;  ///< resolved: absolute, or a name not found in PATH
  GtestListOptions opts;
  Settings settings;  ///< its tests' cwd, env and sandbox
};

struct ListingUnitsOptions {
  int slots = 1;
  int64_t kill_grace_ms = 2000;
  /// The run's state directory (as given, or the default beside the manifest): hidden from the units, as
  /// from every unit of the run.
  std::string state_dir;
  /// Readable once the run must stop (InterruptWatch::fd()); -1: never. The listings still running are then
  /// killed, and the ones not started are not run (their result says so).
  int interrupt_fd = -1;
  std::function<bool()> interrupted = [] { return false; };
};

/// Runs each request's listing in a sandbox unit of its own (at most `opts.slots` at once) and returns, per
/// request, its enabled cases or why not, as gtestListingResult() says it: "X does not exist" (nothing is
/// run), "killed by signal 11 (Segmentation fault)", "exited with status 1: <first line of its output>",
/// "did not finish within 30000 ms", or the sandbox's error. The listing sees what its tests would see:
/// their policy (writable paths included), cwd and environment. Its stdout and stderr are one log, as a
/// test's are.
///
/// `m` is the manifest as loaded without the listings: its writable paths are where a symlink may have been
/// planted (executor/bind_paths.h), as in the run. Its logs and output directories go to a private
/// directory under $TMPDIR, removed before returning; nothing is left running.
std::vector<Result<std::vector<std::string>>> listInSandboxUnits(Manifest m,
                                                                  const std::vector<ListingRequest>& requests,
                                                                  const sandbox::Context& ctx,
                                                                  sandbox::Spawner& spawner,
                                                                  const ListingUnitsOptions& opts);

}  // namespace mpexec
