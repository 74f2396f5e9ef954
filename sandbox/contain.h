#pragma once
// The namespace side of a unit (DESIGN §4): implemented by the kernel-concern files of sandbox/.

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sandbox/caps.h"
#include "sandbox/context.h"
#include "sandbox/mount.h"
#include "sandbox/recycle.h"
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
  /// The directories (host paths).
  virtual const std::vector<std::string>& dirs() const = 0;
};

struct ContainedChild {
  pid_t pid = -1;
  UniqueFd pidfd;
  std::unique_ptr<UnitCgroup> cgroup;  ///< may be null
};

/// What a unit's init is handed besides its spec. Every fd is borrowed.
struct InitChannel {
  int event_fd = -1;   ///< the init's end of the unit's event socket (runInit's); -1 for none
  /// Where the init reports the end of its set-up. When it is event_fd, as an Event (Ready or SetupFailed,
  /// read by UnitProcess); otherwise as a SpawnMessage (Ready or Failed, read by spawnContainedWith). Its
  /// peer is the executor's: once that end is closed, the init gives up instead of running orphaned.
  int report_fd = -1;
  std::vector<std::string> cgroup_dirs;  ///< the unit's cgroup directories (UnitCgroupDirs::dirs())
  /// A fresh network namespace with loopback up, made ahead by the spawner and never used by anyone else,
  /// for a unit with network "none"; -1: the init unshares one itself.
  int netns_fd = -1;
  /// prepareSharedRoot()'s mount namespace, for a unit without a user namespace; -1: the init builds its
  /// whole root (setupFilesystem).
  int shared_root_fd = -1;
  /// What the shared root could not do as asked (SharedRoot::note), for the unit's Ready event.
  std::string shared_root_note;
  /// The sync directory whose socket the shared root's /run holds (SharedRoot::run, UnitMounts::shared_run).
  std::optional<std::string> shared_run;
  /// The idmap namespaces and ids of a unit of root with unit ids (mount.h); all -1 otherwise.
  IdViews views;
  /// The host's cgroup mount points (cgroupMountPoints()); empty: the init reads them itself if it needs them.
  std::vector<std::string> cgroup_mounts;
  /// Filled in by the init (its own copy) when the unit may be recycled (wantsRecycling): the fds above it
  /// then keeps open, for runInit. Null: never.
  RecycleKit* kit = nullptr;
  /// The spawner emptied its bounding set (dropBoundingSet) before cloning: an init without a user namespace
  /// has the same credentials, and nothing left to drop.
  bool bounding_set_dropped = false;
};

/// In a single-threaded process (the spawner, or spawnContainedWith's helper): clones the unit's init as a
/// sibling (CLONE_PARENT, so the init is the caller's parent's child, reaped there) with CLONE_PIDFD, and
/// sends `reply_sock` one SpawnMessage: Cloned with the init's pid and its pidfd, or Failed (with the pid and
/// pidfd too when the clone itself worked: the receiver then kills and reaps it).
///
/// The init then sets itself up (DESIGN §4; for Isolation::Namespaces: id maps written by the caller,
/// cgroups, mount and network namespaces, filesystem, loopback, hostname, PDEATHSIG; for Isolation::None: its
/// own process group and PDEATHSIG), reports on ch.report_fd, and exits with body()'s result. The heavy
/// steps run in the init, so several units set up at once while the caller serves the next request.
void serveSpawn(const Context& ctx, const UnitSpec& spec, const InitChannel& ch, int reply_sock,
                const std::function<int()>& body);

/// Reads serveSpawn's reply. On Failed, kills and reaps the init if there is one.
Result<ContainedChild> receiveCloned(int reply_sock, int timeout_ms);

/// CLOCK_MONOTONIC now, in ns, as an init stamps its events (Event::mono_ns). By the system call, not the
/// vDSO: an init reads the clock a few times per unit, and its first read through the vDSO would fault the
/// vDSO's data and code pages into each init's new address space, with page tables for a region of their
/// own, allocated and freed again per unit (three page faults and three page-table pages: more than those
/// few system calls cost, and much more on a virtual machine, where every page-table update is the
/// hypervisor's).
int64_t eventClockNs();

/// The set-up report the init sends when ch.report_fd is its event socket; a Ready carries `note`.
Event setupEvent(const Result<void>& setup, const std::string& note = {});
/// The error a SetupFailed event carries.
Error setupError(const Event& ev);

/// Clones a contained init in-process (through a short-lived helper, so the caller may have threads) and
/// waits for its set-up: on success the init then runs body() and exits with its result. For the tests of
/// the kernel-concern steps. Errors name the failing step and errno, e.g. call "mount /proc" with EPERM;
/// the child is then reaped. Only for ctx.isolation() == Namespaces.
/// `shared_root` as InitChannel::shared_root_fd.
Result<ContainedChild> spawnContainedWith(const Context& ctx, const UnitSpec& spec, int child_event_fd,
                                          const std::function<int()>& body, int shared_root = -1);

/// Adopts a spawned init as a UnitProcess that reads its events from `events`.
UnitProcess adoptUnit(Isolation isolation, ContainedChild child, UniqueFd events);

/// In the unit's init, last in its set-up (containInit), once for all its commands, which inherit it all:
/// no_new_privs, the securebits, and empty bounding and ambient sets. The init keeps its effective
/// capabilities.
Result<void> restrictUnit(const Context& ctx, Bounds bounds);

/// In a command's own process, before it changes to its directory: RLIMIT_AS / RLIMIT_NPROC for the limits
/// that no cgroup enforces (RLIMIT_NPROC counts every process of the uid: a weak stand-in), then who it
/// runs as: the unit's own uid in a user namespace of its own (becomeUnitUser) where the Context has unit
/// ids, else user "nobody" as root (setresuid/setresgid 65534). Then the cwd is checked as that user.
/// Only called for Isolation::Namespaces, under restrictUnit. Async-signal-safe on success.
Result<void> becomeCommandUser(const Context& ctx, const UnitSpec& spec);

/// In a command's own process, just before execve, after becomeCommandUser: cleared capabilities, and last
/// the seccomp program (only its guard when the policy turns seccomp off). Async-signal-safe on success, so
/// it may run between fork and execve.
Result<void> restrictCommand(const Context& ctx, const Policy& policy);

}  // namespace mpexec::sandbox
