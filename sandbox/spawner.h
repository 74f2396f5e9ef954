#pragma once
// The spawner: a small single-threaded process, forked from mpexec's main thread before any other thread
// starts, that clones every unit's init (DESIGN §4 "sandboxes are spawned from one long-lived thread").
//
// mpexec sends it one request per unit (the UnitSpec, the unit's cgroup directories, the init's event socket
// and log directory as fds) and gets back the init's pid and pidfd. The init is cloned with CLONE_PARENT, so
// it is mpexec's own child: mpexec reaps it, kills it by pidfd, and it dies with mpexec (PDEATHSIG). The
// spawner's reply comes right after the clone; the init's slow set-up (network namespace, mounts) happens in
// the init itself, in parallel with other units' set-up and with mpexec's dispatching.
//
// A clone from the spawner copies a few hundred KiB of page tables, where a fork of mpexec copies all of
// mpexec (a large manifest, the sync service's threads).

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sandbox/init.h"
#include "sandbox/result.h"
#include "sandbox/unique_fd.h"
#include "sandbox/unit_process.h"

namespace mpexec::sandbox {

class Spawner {
 public:
  /// Forks the spawner, or starts `program`, and hands it `ctx`: launch() then serve(). Call from the thread
  /// that outlives every unit (the main thread), before starting other threads. `ctx` must outlive the
  /// Spawner.
  ///
  /// With `netns_ahead` > 0 and no user namespace in use, the spawner keeps up to that many fresh network
  /// namespaces (loopback up) made while it has nothing else to do, and hands each to exactly one unit
  /// with network "none": making one costs ~1 ms of kernel time under a global lock, which then falls in
  /// idle time instead of between a slot's units.
  ///
  /// With `program` (findProgram()), that small static program is started (posix_spawn) and sent `ctx`: each
  /// clone then copies its dozen mappings instead of mpexec's ~90 (16 shared libraries) and its heap. Without
  /// it, the fork serves as it is.
  static Result<std::unique_ptr<Spawner>> start(const Context& ctx, int netns_ahead = 0,
                                                const std::string& program = {});
  /// The first half of start(), for before the Context exists: starts `program`, which (as root, and with
  /// `make_ahead`) prepares the shared root and a network namespace while mpexec reads its manifest. Without
  /// a program, nothing starts until serve(). A Spawner dropped before serve() ends as one dropped after:
  /// the program exits once it sees its socket closed, and the destructor reaps it.
  static Result<std::unique_ptr<Spawner>> launch(const std::string& program, bool make_ahead = true);
  /// A preloaded spawner (docs/sandbox.md, "Preloaded interpreters"): starts `argv` (argv[0] the program,
  /// with mpexec's pid and "0"|"1" for make_ahead appended, as for mpexec-spawner) with exactly `env`, stdin
  /// and stdout on /dev/null and the socket as fd 3. The program is an interpreter that loads
  /// libmpexec-spawner.so and calls mpexec_spawner_serve() (servePreloaded). Such a spawner is given each
  /// unit without its commands, which go to the unit's init itself (UnitProcess::sendCommands), so it never
  /// holds what one unit's commands are given (their environment, the sync token) in memory the next
  /// unit's processes inherit; it serves sandboxed units only, never recycled.
  static Result<std::unique_ptr<Spawner>> launchPreloaded(const std::vector<std::string>& argv,
                                                          const std::vector<std::string>& env);
  /// Waits up to `timeout_ms` for a preloaded spawner to say it is ready (its interpreter has loaded what it
  /// preloads); once true, stays true. False when it exited or did not say so in time: then close() it.
  bool awaitReady(int timeout_ms);
  /// awaitReady() without waiting: nullopt while the spawner has said nothing yet (it is still starting).
  std::optional<bool> readyNow();
  bool preloaded() const { return preloaded_; }
  /// The body of mpexec_spawner_serve(), the library's entry point: serves as mpexec-spawner does, on
  /// `sock`, for mpexec (`parent`), with `run` running CommandSpec::preload commands. Returns only on a
  /// usage error (2).
  static int servePreloaded(int sock, long parent, bool make_ahead, PreloadedRun run);
  /// The second half: sends the program `ctx` and `netns_ahead`, or forks the spawner.
  Result<void> serve(const Context& ctx, int netns_ahead);
  /// mpexec-spawner beside the running executable, or in ../lib/mpexec/ from it; empty when there is none.
  /// With `levels_up`, it looks that many directories further up (the build's tests/ and bench/ use 1).
  static std::string findProgram(int levels_up = 0);
  /// main() of mpexec-spawner (sandbox/spawner_main.cc).
  static int programMain(int argc, char** argv);
  static constexpr const char* kProgramName = "mpexec-spawner";
  static constexpr int kProgramSocket = 3;
  /// Ends the spawner (it exits when its socket closes) and reaps it. Units already started go on.
  ~Spawner();
  /// Closes the socket without waiting: the spawner exits (dropping the namespaces it made ahead) while the
  /// caller goes on, and the destructor reaps it. No unit can be spawned after.
  void close() { sock_.reset(); }
  Spawner(const Spawner&) = delete;
  Spawner& operator=(const Spawner&) = delete;

  /// Starts the unit: creates its cgroup, has the spawner clone its init, and returns at once. The init
  /// sets up its sandbox on its own; if that fails, its first event is SetupFailed and it exits.
  /// Errors here (the spawner gone, a clone refused) mean the unit never started.
  Result<UnitProcess> spawn(const UnitSpec& spec);
  /// Starts the unit in `done`'s sandbox (UnitProcess::recyclable()): makes its cgroup and hands both to
  /// UnitProcess::recycle. False when that cannot be done; `done` is then to be dropped.
  bool recycle(UnitProcess& done, const UnitSpec& spec);

  pid_t pid() const { return pid_; }

 private:
  Spawner(pid_t pid, UniqueFd sock) : pid_(pid), sock_(std::move(sock)) {}
  const Context* ctx_ = nullptr;  ///< set by serve()
  pid_t pid_;                     ///< -1 until a program or fork runs
  UniqueFd sock_;
  std::string program_;
  bool preloaded_ = false;
  bool ready_ = false;
};

/// The request's wire form, for the spawner and its tests: the spec (without log_dir_fd and output_dir_fd,
/// which travel as fds) and the unit's cgroup directories.
struct SpawnRequest {
  UnitSpec spec;
  std::vector<std::string> cgroup_dirs;
  bool has_log_dir = false;     ///< the log directory is the fd after the event socket
  bool has_output_dir = false;  ///< the output directory is the next fd
};
std::string encodeSpawnRequest(const UnitSpec& spec, const std::vector<std::string>& cgroup_dirs);
/// Fails with a message that says which field is malformed.
Result<SpawnRequest> decodeSpawnRequest(const std::string& bytes);

/// One command's wire form, as a batch's next process travels to its init (UnitProcess::nextBatch).
std::string encodeCommand(const CommandSpec& c);
Result<CommandSpec> decodeCommand(const std::string& bytes);

/// A file that comes with mpexec: `name` beside the running executable, or in ../lib/mpexec/ from it (the
/// build tree; `make install` and the .deb). With `levels_up`, that many directories further up first. Empty
/// when there is none.
std::string findBesideExecutable(const std::string& name, int levels_up = 0);

/// The Context's wire form, sent to a spawner program (Spawner::start). decodeContext fails with a message
/// that says which field is malformed; the decoded Context has no CgroupRoot (cgroups() is null).
std::string encodeContext(const Context& ctx);
Result<std::unique_ptr<Context>> decodeContext(const std::string& bytes);

}  // namespace mpexec::sandbox
