#pragma once
// One unit's lifetime: a process (mpexec's own init, no exec) that runs the unit's commands one after
// another and reports each one's raw wait status to the executor over a SOCK_SEQPACKET socketpair.
//
// With Isolation::Namespaces the init is pid 1 of fresh namespaces (DESIGN §4); with Isolation::None it
// is a plain child that is a child subreaper, so that nothing a command leaves behind outlives the unit.

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sandbox/policy.h"
#include "sandbox/result.h"
#include "sandbox/unique_fd.h"

namespace mpexec::sandbox {

enum class Isolation { None, Namespaces };

/// Where a sandbox sees the mpexec binary (bound read-only), for `mpexec sync` inside.
inline constexpr const char* kExeInside = "/run/mpexec-bin/mpexec";
/// Where a sandbox sees the sync service's socket (UnitSpec::sync_dir's sync.sock, bound on its own).
inline constexpr const char* kSyncSocketInside = "/run/mpexec/sync.sock";

/// Batch: a command that runs several tests in one process; the executor moves its deadline while it runs
/// and, once it has exited, has the init run another process in its place or go on (UnitProcess::nextBatch).
enum class Role : uint8_t { Setup, Test, Teardown, Batch };

struct CommandSpec {
  Role role = Role::Test;
  std::vector<std::string> argv;  ///< argv[0] is a path or a name looked up in PATH of `env`
  std::vector<std::string> env;   ///< the complete environment, KEY=VALUE
  std::string cwd;                ///< absolute
  int64_t timeout_ms = 60000;     ///< > 0
  std::string log_name;           ///< created in UnitSpec::log_dir_fd; gets stdout and stderr
  /// `PY -m pytest ...` that a unit spawned from a preloaded interpreter (Spawner::launchPreloaded) runs in a
  /// fork of that interpreter instead of an execve of PY (docs/sandbox.md, "Preloaded interpreters").
  /// Elsewhere, and when the interpreter declines it, the command is exec'd as usual.
  bool preload = false;
};

/// Everything the init needs. Commands run in order. Once a Setup command fails (non-zero exit, signal,
/// timeout or spawn failure), the Test and Batch commands after it are skipped; Teardown commands always run.
struct UnitSpec {
  std::string name;
  Isolation isolation = Isolation::None;
  Policy policy;
  std::vector<CommandSpec> commands;
  int log_dir_fd = -1;        ///< borrowed directory fd; logs are created in it without following symlinks
  /// The unit's output directory: its host path, where it is bound read-write inside (and what
  /// MPEXEC_OUTPUT_DIR says). The directory bound is `output_dir_fd` when set (borrowed, opened by the executor
  /// without following symlinks, so nothing a unit changes under that path can redirect the bind); else the
  /// path, opened without following symlinks.
  std::string output_dir;
  int output_dir_fd = -1;
  /// Host paths bound read-only at the same path, before the writable ones: what the unit's fresh /tmp
  /// and /run would otherwise hide (a project checked out under /tmp).
  std::vector<std::string> visible;
  /// Host directories the unit must not see (the state directory): each is covered by an empty read-only
  /// directory in the unit's view, on top of any bind that contains it. Only binds below it (the output
  /// directory) show through. A path absent from the unit's view is left alone.
  std::vector<std::string> hidden;
  std::string sync_dir;       ///< host directory holding sync.sock, bound at kSyncSocketInside; empty: none
  int64_t kill_grace_ms = 2000;
  /// Which of the run's unit ids the unit's commands take (Context::unitIds(): host uid and gid
  /// unitIdBase() + identity), unique among the units alive at the same time; -1: none (the commands run as
  /// the init's uid).
  int32_t identity = -1;
  /// RLIMIT_NPROC of every command of a unit with an id of its own whose processes no pids cgroup limits
  /// (taskShare()): a unit's share of the host's task table, which is one for all uids. 0: inherited.
  uint64_t task_limit = 0;
  /// Set up now, run later: once its sandbox is ready the init waits for UnitProcess::go(slot), which also
  /// sets MPEXEC_SLOT in every command's environment (an entry "MPEXEC_SLOT=" stands for it).
  bool hold = false;
  /// The executor would hand the init another unit after this one (UnitProcess::recycle) if the sandbox is
  /// left clean: the init keeps what it needs for that (sandbox/recycle.h) and checks for residue before
  /// Done. Honoured only where recycling is possible (wantsRecycling); elsewhere Done says it is not.
  bool recycle = false;
};

/// One message from the init. Fixed size, so one SOCK_SEQPACKET datagram each.
struct Event {
  enum class Kind : uint32_t {
    Started,      ///< command `index` started
    Exited,       ///< command `index` ended: wait_status is its raw status; timed_out says why it ended
    Skipped,      ///< command `index` was not run because a setup failed
    SpawnFailed,  ///< command `index` could not start: err and detail say which step failed
    Denied,       ///< command `index` made a call the seccomp policy denies; detail names it
    Ready,        ///< the sandbox is set up (UnitProcess::readEvents keeps it: see setupDoneNs()); detail
                  ///< names what could not be done as asked but left the unit contained (setupNote())
    SetupFailed,  ///< the sandbox could not be set up; no command ran. setupError() (contain.h) says why
    Done,         ///< every command ended and every other process of the unit is gone; the init exits next,
                  ///< or waits for another unit (UnitProcess::readEvents keeps it: see done()). err is 0 when
                  ///< the init checked its sandbox clean for another unit (checkResidue); otherwise the errno
                  ///< of what stands against that, and detail says what (recycleRefusal())
  };
  Kind kind = Kind::Started;
  uint32_t index = 0;
  int32_t wait_status = 0;
  uint32_t timed_out = 0;
  int32_t err = 0;
  uint32_t leaked = 0;  ///< Done: processes of the unit still running after its last command, killed
  int64_t mono_ns = 0;  ///< CLOCK_MONOTONIC when it happened
  char detail[224] = {};
};
static_assert(sizeof(Event) == 256);

/// Host facts and parent-side preparations made once per run: which namespaces, which cgroup backend,
/// the compiled seccomp program. Defined in sandbox/context.h.
class Context;
struct ContainedChild;
class UnitCgroup;

/// A running unit. Move-only; the destructor kills the whole unit and reaps the init.
class UnitProcess {
 public:
  UnitProcess(UnitProcess&&) noexcept;
  UnitProcess& operator=(UnitProcess&&) noexcept;
  ~UnitProcess();

  pid_t pid() const;
  /// Readable when events are pending.
  int eventFd() const;
  /// Readable once the init has exited. Watch both fds.
  int pidFd() const;
  /// Reads every pending event without blocking. Returns false once the init has exited and every event
  /// has been read; then exitStatus() is valid. `exited`: whether pidFd() is readable, as an epoll that
  /// watches it has just said (false: it did not say so; a level-triggered epoll says it on its next wait
  /// if the init exits meanwhile); without it, readEvents() asks the pidfd itself.
  bool readEvents(std::vector<Event>& out, std::optional<bool> exited = std::nullopt);
  /// Reaps the init if it has exited, without reading its events (an idle or retiring init's, which are of
  /// no interest). Returns reaped().
  bool reapIfExited();
  /// Raw wait status of the init.
  int exitStatus() const;
  /// Lets a unit spawned with UnitSpec::hold run, on `slot`. False if the init is gone.
  bool go(int slot);
  /// Kills every process of the unit: cgroup.kill where available, and SIGKILL to a pid-namespace init by
  /// pidfd; an init without a pid namespace gets SIGTERM and kills its descendants before it exits. The
  /// executor's end of the socket is shut first, which an init waiting for go() or another unit reads as its
  /// end. Events after this are of no interest. Does not wait: readEvents() or the destructor reaps the init.
  void kill();
  /// OOM kills counted by the unit's memory cgroup so far (0 without one).
  uint64_t oomKills() const;
  /// CLOCK_MONOTONIC when the init reported its sandbox set up; 0 before that.
  int64_t setupDoneNs() const;
  /// What the init's Ready said could not be done as asked (a bind that could not be idmapped); empty when
  /// everything was, or before Ready.
  const std::string& setupNote() const;
  /// Whether the init is past its set-up: it sent Ready (taken now, as readEvents() would) or SetupFailed
  /// (left for readEvents()), or it is gone. For units not yet watched, such as ones set up ahead.
  bool pastSetup();
  /// Whether the init reported Done: all results are in and only the init's own exit is left. The unit
  /// can then be retired without waiting for that exit.
  bool done() const;
  /// With done(): how many processes of the unit were still running after its last command ended, and
  /// were killed (a test that leaves a daemon behind).
  uint32_t leakedProcesses() const;
  /// Whether the init has exited and been reaped (readEvents() returned false).
  bool reaped() const;
  /// While the Batch command `index` runs its process number `process` (1 for the spec's own, then as
  /// nextBatch() numbers them): its deadline is now `deadline_ns` (CLOCK_MONOTONIC), which the init enforces
  /// like a timeout (SIGTERM to its session, SIGKILL after the grace; Exited says timed_out). A message for
  /// a process that has ended is ignored. False if the init is gone.
  bool setBatchDeadline(uint32_t index, uint32_t process, int64_t deadline_ns);
  /// After the Batch command `index` reported Exited, the init waits for one of these: run `cmd` (its
  /// process number `process`) as that command's next process, with the same index in its events; or go on
  /// with the commands after it. False if the init is gone.
  bool nextBatch(uint32_t index, uint32_t process, const CommandSpec& cmd);
  bool endBatch(uint32_t index);
  /// Hands a unit without namespaces whose init reported Done the next unit to run, in the same init and
  /// with the same event socket and pidfd (spec.log_dir_fd is ignored: the init keeps the first unit's).
  /// False if this init cannot take it (namespaces, not done, gone); the caller then drops it.
  bool runNext(const UnitSpec& spec);
  /// Sends an init cloned by a preloaded spawner (which is given each unit without its commands) the
  /// unit's commands; the init reads them once its sandbox is set up. False if the init is gone.
  bool sendCommands(const UnitSpec& spec);
  /// Whether the init of a unit with namespaces reported Done with its sandbox checked clean for another
  /// unit (UnitSpec::recycle, sandbox/recycle.h).
  bool recyclable() const;
  /// With done(): why the sandbox cannot take another unit, as Done said; empty when it can.
  std::string recycleRefusal() const;
  /// Hands a recyclable() init the next unit, with `cgroup` (the new unit's, made by the caller; null
  /// without cgroups) and the output directory's fd. The init moves itself into the new cgroups, makes the
  /// sandbox new where the unit could see or change anything (recycleSandbox), and reports Ready or
  /// SetupFailed as a new init would; at Ready the old cgroups are killed (nothing is left in them) and
  /// removed. False if the init cannot be reached; the caller then drops the process and spawns the unit
  /// anew.
  bool recycle(const UnitSpec& spec, std::unique_ptr<UnitCgroup> cgroup);

  struct State;

 private:
  friend UnitProcess adoptUnit(Isolation, ContainedChild, UniqueFd);
  explicit UnitProcess(std::unique_ptr<State> s);
  /// waitid() on the pidfd with `options`; marks the init reaped unless WNOHANG found it running.
  void reap(int options);
  std::unique_ptr<State> s_;
};

/// Units are started by a Spawner (sandbox/spawner.h).

}  // namespace mpexec::sandbox
