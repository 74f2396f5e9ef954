#pragma once
// A unit's commands as the sandbox runs them (sandbox::CommandSpec), built from the scheduler's UnitJob: each
// command's argv, cwd, timeout, log and environment (docs/executor.md, "Environment"). Pure: the runner makes
// the directories, takes the unit id and the sync token, and passes what it got in a UnitLaunch.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "executor/log_names.h"
#include "executor/manifest.h"
#include "executor/plan.h"
#include "executor/unit_runner.h"
#include "sandbox/unit_process.h"

namespace mpexec {

/// The sandbox policy of a unit that runs `tests` (a subsequence of its tests): a serial group's, or the
/// free test's own.
sandbox::Policy unitPolicy(const Manifest& m, const Unit& unit, const std::vector<size_t>& tests);

/// The environment every unit's commands start from: `envp` (KEY=VALUE entries, null-terminated) without the
/// run's own variables (MPEXEC_*, TMPDIR: set per command; stale ones from an enclosing mpexec must not leak
/// in), and MPEXEC_EXE=`exe` (mpexec's executable on the host) unless `exe` is empty.
std::vector<std::string> baseEnvironment(const char* const* envp, const std::string& exe);

/// The command a preloaded interpreter for `group` (which has a batch command) is started with: the batch
/// command's argv, and `base_env` less the keys the group sets, then the group's variables.
sandbox::CommandSpec preloadCommand(const GroupSpec& group, const std::vector<std::string>& base_env);

/// What one launch of a unit tells its commands beyond their own settings.
struct UnitLaunch {
  const Manifest& m;
  const Unit& unit;
  const GroupSpec* group;  ///< the unit's group; null for a test without one
  const UnitJob& job;
  /// The runner's environment, without MPEXEC_* and TMPDIR; its MPEXEC_EXE (mpexec's executable on the
  /// host) is told only where the unit is not sandboxed.
  const std::vector<std::string>& base_env;
  bool sandboxed = false;  ///< in namespaces: MPEXEC_EXE is sandbox::kExeInside
  bool hold = false;       ///< set up ahead: MPEXEC_SLOT is left empty, for UnitProcess::go() to fill
  int slots = 1;           ///< MPEXEC_WORKER_COUNT
  std::string run_id = {};
  std::string tmp = {};          ///< TMPDIR and MPEXEC_TMPDIR
  std::string output_dir = {};   ///< MPEXEC_OUTPUT_DIR
  std::string sync_socket = {};  ///< MPEXEC_SYNC_SOCKET as the unit sees it; empty: no sync service
  std::string sync_token = {};   ///< MPEXEC_SYNC_TOKEN, with a socket
  std::string sync_url = {};     ///< MPEXEC_SYNC_URL, with a socket; empty where the unit cannot reach it
};

/// The complete environment of one command with settings `s`, running `test` (null for a fixture or a Batch
/// command), that needs `need` of the unit's resources: `base_env` less the keys `s` sets, then `s`'s
/// variables, then mpexec's (MPEXEC_TEST_NAME, _GROUP, _STRATEGY, _UNIT, _SLOT, _WORKER_COUNT, _RUN_ID,
/// _ATTEMPT, _TMPDIR, TMPDIR, _OUTPUT_DIR, _EXE, _SYNC_*) and MPEXEC_RESOURCE_<NAME> with its share of what
/// the job holds. A test with CTest's resource groups is told them as ctest would, over any
/// CTEST_RESOURCE_GROUP_* of `base_env`.
std::vector<std::string> commandEnv(const UnitLaunch& l, const Settings& s, const TestSpec* test,
                                    const ResourceCounts& need);

/// The Batch command of `l`'s group (which has a batch command) before BatchUnit gives it its argv and log:
/// its environment (for all of the unit's resources), cwd, and whether it is preloaded.
sandbox::CommandSpec batchBaseCommand(const UnitLaunch& l);

/// A unit's commands, in the order they run, and the test each stands for.
struct UnitCommands {
  std::vector<sandbox::CommandSpec> commands;
  std::vector<size_t> tests;  ///< by command index; meaningful for Role::Test (0 for the others)
};

/// The group's setup if any; then `batch` (a batch group's first process, from BatchUnit) or one command per
/// test of the job, logged as `logs` names it for the job's attempt; then the group's teardown if any.
/// Fixtures log to "<unit>~setup.log" ("<unit>~setup~attempt2.log", ...) and are told MPEXEC_FIXTURE.
UnitCommands unitCommands(const UnitLaunch& l, const LogNames& logs,
                          std::optional<sandbox::CommandSpec> batch);

}  // namespace mpexec
