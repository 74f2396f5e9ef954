#pragma once
// Runs units on this machine, each as a sandbox::UnitProcess: in namespaces, or (--no-sandbox) as plain
// processes. One epoll loop over every running unit's event socket and pidfd; no thread per unit.
//
// The runner starts units (launch(): the spec from executor/unit_spec.h, the host from executor/unit_view.h,
// the init from executor/idle_inits.h), turns their events into the scheduler's, and ends them.

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <unordered_map>
#include <string>
#include <vector>

#include "executor/batch_board.h"
#include "executor/batch_unit.h"
#include "executor/clock.h"
#include "executor/idle_inits.h"
#include "executor/log_names.h"
#include "executor/manifest.h"
#include "executor/plan.h"
#include "executor/preload.h"
#include "executor/unit_runner.h"
#include "executor/unit_view.h"
#include "sandbox/context.h"
#include "sandbox/spawner.h"
#include "sandbox/unique_fd.h"

namespace mpexec {

/// Where a run keeps its files: <state>/runs/<id>/{logs,out,tmp}.
struct RunPaths {
  std::string run_id;
  std::string state_dir;  ///< absolute, resolved; hidden from every unit
  std::string run_dir;    ///< absolute, resolved
  std::string logs_dir;   ///< absolute
  std::string log_prefix;  ///< how reports name the logs dir (relative to the manifest directory)
};

/// The sync service as the runner sees it: a token per unit, and word when a unit has ended.
struct SyncHooks {
  std::string socket_path;  ///< host path of sync.sock; empty: no sync service
  std::string socket_dir;
  /// http://HOST:PORT of the TCP listener (--sync-bind), given to units that can reach it (network "host",
  /// or --no-sandbox) as MPEXEC_SYNC_URL; empty without it.
  std::string tcp_url;
  std::function<std::string(const std::string& unit)> unit_starting;
  std::function<void(const std::string& unit)> unit_ended;
};

struct LocalRunnerOptions {
  int slots = 1;
  int64_t kill_grace_ms = 2000;
  int interrupt_fd = -1;  ///< wait() returns when this is readable
  int tick_ms = -1;       ///< wait() also returns after this long (-1: only on events)
  SyncHooks sync;
  /// Where batch processes' live reports arrive (the sync service's ResultSink); null: none do.
  BatchBoard* batch_board = nullptr;
  /// The preloaded interpreters for batch groups with "preload" (executor/preload.h); null: none.
  Preloads* preloads = nullptr;
};

class LocalRunner : public UnitRunner {
 public:
  LocalRunner(const Manifest& m, const Plan& plan, const sandbox::Context& ctx, sandbox::Spawner& spawner,
              const RunPaths& paths,
              const RunClock& clock, LocalRunnerOptions opts);
  ~LocalRunner() override;

  void start(const UnitJob& job) override;
  void wait(std::vector<RunnerEvent>& out) override;
  void killAll() override;
  /// Spawns the unit with UnitSpec::hold: its sandbox is set up while the slots are busy.
  void prepare(const UnitJob& job) override;
  /// Also kills the idle sandboxes, and those of units that end before the next start().
  void discardPrepared() override;

  /// The log of test `t`'s attempt, relative to the manifest directory.
  std::string logPath(size_t t, int attempt = 1) const;

  struct Running;

 private:
  /// Builds the unit's spec and spawns it; on failure, the reason (and nothing is left behind). `hold`: the
  /// unit is set up ahead, and waits for UnitProcess::go().
  std::optional<std::string> launch(Running& r, const UnitJob& job, bool hold);
  /// Ends a unit that never ran: kills and reaps it, removes its scratch directory, tells the sync service.
  void drop(std::unique_ptr<Running> r);
  void finishUnit(size_t slot_index, std::vector<RunnerEvent>& out);
  /// The unit's init stayed silent past its backstop (armOverdue): the command it was at is a TIMEOUT, the
  /// unit is killed, and what it had not run ends as finishUnit() says.
  void killOverdue(Running& r, std::vector<RunnerEvent>& out);
  void translate(Running& r, const struct sandbox::Event& ev, std::vector<RunnerEvent>& out);

  // Batch units (docs/executor.md, "Batch units"; executor/batch_unit.h does their IO).
  /// The Batch command's process ended (Exited or SpawnFailed): outcomes, then the next process or none.
  void batchEnded(Running& r, const struct sandbox::Event& ev, std::vector<RunnerEvent>& out);
  /// Takes the live reports from the board and applies them to their units.
  void batchReports(std::vector<RunnerEvent>& out);
  /// Matches the new lines of `r`'s batch process output against batch.lines (`all`: the last one too).
  void batchLines(Running& r, bool all, std::vector<RunnerEvent>& out);
  /// Tells the init the batch process's deadline when it moved.
  void batchDeadline(Running& r);

  const Manifest& m_;
  const Plan& plan_;
  const sandbox::Context& ctx_;
  RunPaths paths_;
  const RunClock& clock_;
  LocalRunnerOptions opts_;
  UniqueFd epoll_;
  /// The run's unit ids and the inits waiting for another unit. Declared before every unit it outlives.
  IdleInits inits_;
  static bool freshOnly();  ///< not MPEXEC_RECYCLE_SANDBOXES=1, or MPEXEC_FRESH_SANDBOXES=1
  uint64_t task_share_ = 0;  ///< each unit's RLIMIT_NPROC where no pids cgroup limits it (sandbox::taskShare)
  UniqueFd logs_dir_fd_;
  std::unique_ptr<BatchSite> batch_site_;  ///< what every batch unit shares with the runner
  UniqueFd out_dir_fd_;  ///< <run>/out, where each unit's output directory is made without following symlinks
  /// What sandboxed units see of the host, worked out before the first unit starts; none without namespaces.
  std::optional<UnitView> view_;
  /// The unit's output directory, made if missing, opened without following symlinks.
  Result<UniqueFd> outputDir(const std::string& unit_id) const;
  std::vector<std::string> base_env_;  ///< what every command's environment starts from (baseEnvironment())
  LogNames log_names_;
  std::vector<std::unique_ptr<Running>> running_;  ///< by slot
  std::unordered_map<size_t, std::unique_ptr<Running>> prepared_;  ///< by unit: set up, waiting for start()
  std::deque<UnitJob> to_prepare_;  ///< hinted, to set up when wait() has a moment
  // Epoll tags: a running unit's event socket has its slot, its pidfd its slot | kExited.
  static constexpr uint64_t kExited = uint64_t(1) << 32;
  static constexpr uint64_t kInterrupt = ~uint64_t(0);     ///< epoll tag of the interrupt fd
  static constexpr uint64_t kRetiring = ~uint64_t(0) - 1;  ///< epoll tag of idle and retiring inits' pidfds
  static constexpr uint64_t kBoard = ~uint64_t(0) - 2;     ///< epoll tag of the batch board
  /// For a unit whose recycled sandbox reported SetupFailed: starts it again in a new sandbox, with a unit id
  /// of its own, and drops the recycled one. False when that cannot be done (the unit then ends as the
  /// set-up's error says).
  bool restartInNewSandbox(Running& r);
  /// Watches `r`'s event socket and pidfd, tagged with its slot (the pidfd's with kExited); or no longer.
  void watch(const Running& r);
  void unwatch(const Running& r);
  /// Units whose sandbox is being set up: running ones and prepared ones.
  int settingUp();
  std::vector<RunnerEvent> pending_;
  std::vector<std::string> setup_notes_;

 public:
  /// What units' sandboxes could not do as asked but left them contained (a writable path that could not
  /// be idmapped, host mounts seen without idmapping), each once.
  const std::vector<std::string>& setupNotes() const { return setup_notes_; }
  /// Of the units started in a sandbox, how many took one that an earlier unit left clean.
  size_t recycledUnits() const { return inits_.recycledUnits(); }
  size_t sandboxedUnits() const { return inits_.sandboxedUnits(); }
};

}  // namespace mpexec
