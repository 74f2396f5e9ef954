#pragma once
// The unit's first process: mpexec's own init, entered after fork/clone with no exec.

#include <cstddef>
#include <optional>

#include "sandbox/context.h"
#include "sandbox/recycle.h"
#include "sandbox/unique_fd.h"
#include "sandbox/unit_process.h"

namespace mpexec::sandbox {

/// Runs spec.commands one by one, each in its own session, reaps every process, and sends one Event per
/// step over `event_fd`. Then kills what is left of the unit and exits the process: never returns.
///
/// With Isolation::None, an init that swept its unit clean (and so sent Done) waits for another unit on
/// `event_fd` (UnitProcess::runNext) and runs it the same way, with the first unit's log directory; it
/// exits when the executor closes the socket instead.
///
/// With namespaces and an enabled `kit` (UnitSpec::recycle, sandbox/recycle.h), the init checks its sandbox
/// for residue before Done (Event::err 0: clean) and, if clean, waits the same way for the next unit
/// (UnitProcess::recycle, with the executor's new cgroups), makes its sandbox new where the next unit could
/// see or change anything (recycleSandbox), sends Ready or SetupFailed, and runs it.
[[noreturn]] void runInit(const Context& ctx, const UnitSpec& spec, int event_fd, const RecycleKit* kit = nullptr);

/// How a command's process runs a CommandSpec::preload command in a preloaded interpreter: called after
/// every restriction of the command is in place, with every fd above 2 closed but `commit_fd` (the pipe that
/// tells the init the command started, as an execve would close it). It returns the command's exit status
/// (0..255), having closed `commit_fd` once it ran the command, or -1 with `commit_fd` still open to have the
/// command exec'd instead. See python/mpexec/_preload.py.
using PreloadedRun = int (*)(char* const* argv, char* const* envp, int commit_fd);

/// Makes every init cloned from this process run CommandSpec::preload commands through `run`. Set once,
/// before serving, by the preloaded spawner (Spawner::servePreloaded) only.
void setPreloadedRun(PreloadedRun run);
PreloadedRun preloadedRun();

/// For a unit spawned with UnitSpec::hold: waits for UnitProcess::go() on `event_fd` and puts its slot into
/// the commands' MPEXEC_SLOT. False when the executor closed the socket instead (the unit is not wanted).
bool awaitGo(int event_fd, UnitSpec& spec);

/// The next unit an init that sent Done is given.
struct NextUnit {
  UnitSpec spec;
  std::vector<std::string> cgroup_dirs;  ///< a recycled sandbox's new cgroups
  UniqueFd output_dir;                   ///< spec.output_dir_fd's, when the header carried it
};

/// For a reusable init that sent Done: waits for UnitProcess::runNext() or recycle() on `event_fd`. Nothing
/// when the executor closed the socket (or sent something else).
std::optional<NextUnit> awaitNext(int event_fd);

/// What UnitProcess::go() sends.
struct GoMessage {
  uint32_t magic = 0x676f2121;  // "go!!"
  int32_t slot = 0;
};

/// What UnitProcess::runNext() and recycle() send: this header (with the output directory's fd, if any, as
/// SCM_RIGHTS), then the unit's encodeSpawnRequest() bytes in datagrams of kNextChunk bytes (the last one
/// shorter).
struct NextHeader {
  uint32_t magic = 0x6e657874;  // "next"
  uint32_t reserved = 0;
  uint64_t size = 0;
};
inline constexpr size_t kNextChunk = 32 * 1024;

/// What UnitProcess::setBatchDeadline(), nextBatch() and endBatch() send while a Batch command runs or has
/// just exited; for Next, the command's encodeCommand() bytes follow in datagrams of kNextChunk bytes.
struct BatchControl {
  enum class Kind : uint32_t { Deadline = 1, Next = 2, End = 3 };
  uint32_t magic = 0x62746368;  // "btch"
  Kind kind = Kind::End;
  uint32_t index = 0;
  uint32_t process = 0;
  int64_t deadline_ns = 0;
  uint64_t size = 0;
};

}  // namespace mpexec::sandbox
