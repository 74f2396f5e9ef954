#pragma once
// The namespace side of a unit (DESIGN §4): implemented by the kernel-concern files of sandbox/.

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>

#include "sandbox/context.h"
#include "sandbox/result.h"
#include "sandbox/unique_fd.h"
#include "sandbox/unit_process.h"

namespace mpexec::sandbox {

/// A unit's cgroup (v2 or v1), or none. The destructor removes it.
class UnitCgroup {
 public:
  virtual ~UnitCgroup() = default;
  /// OOM kills counted so far.
  virtual uint64_t oomKills() const = 0;
  /// Kills every process in it (cgroup.kill, or a freeze-and-kill sweep).
  virtual void killAll() = 0;
};

struct ContainedChild {
  pid_t pid = -1;
  UniqueFd pidfd;
  std::unique_ptr<UnitCgroup> cgroup;  ///< may be null
};

/// Clones the unit's init into new namespaces with CLONE_PIDFD, sets it up from both sides (id maps, cgroup,
/// mounts, network, hostname, PDEATHSIG after the uid change, acknowledged), and then, in the child, calls
/// runInit(ctx, spec, child_event_fd), which never returns. Only for ctx.isolation() == Namespaces.
Result<ContainedChild> spawnContained(const Context& ctx, const UnitSpec& spec, int child_event_fd);

/// spawnContained with `body` in place of runInit: the init sets everything up, then exits with body()'s
/// result. For tests of the kernel-concern steps (and anything else that needs a contained function).
/// Errors name the failing step and errno, e.g. call "mount /proc" with EPERM; the child is then reaped.
Result<ContainedChild> spawnContainedWith(const Context& ctx, const UnitSpec& spec, int child_event_fd,
                                          const std::function<int()>& body);

/// In a command's own process, just before execve: no_new_privs, cleared capabilities, and the seccomp
/// program unless the policy turns it off. Only called for Isolation::Namespaces.
/// Also: user "nobody" as root (setresuid/setresgid 65534), and RLIMIT_AS / RLIMIT_NPROC for the limits
/// that no cgroup enforces (RLIMIT_NPROC counts every process of the uid: a weak stand-in).
/// Async-signal-safe on success, so it may run between fork and execve.
Result<void> restrictCommand(const Context& ctx, const Policy& policy);

}  // namespace mpexec::sandbox
