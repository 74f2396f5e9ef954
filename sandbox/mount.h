#pragma once
// The unit's filesystem view (DESIGN §4): built inside a fresh mount namespace, then pivot_root; or, where a
// shared root was prepared, a copy of that with only the unit's own mounts added.

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "sandbox/result.h"
#include "sandbox/unique_fd.h"
#include "sandbox/unit_process.h"

namespace mpexec::sandbox {

/// The user namespaces a root unit's mounts are idmapped with (sandbox/idmap.h), and who the unit is. All
/// -1 (and 0) where units run as the init's uid: not root, or no idmapped mounts here.
struct IdViews {
  int stranger = -1;  ///< the host's view: maps no id a file has
  int owner = -1;     ///< the invoking user's ids seen as the unit's: for what the unit is given
  uid_t uid = 0;      ///< the unit's host uid and gid, for the way to what it owns
  gid_t gid = 0;
};

/// What a unit's filesystem is made of besides its spec.
struct UnitMounts {
  std::string exe;       ///< mpexec's executable, bound read-only at kExeInside
  int shared_root = -1;  ///< prepareSharedRoot()'s namespace, or -1
  IdViews views;
  std::vector<std::string> cgroup_dirs;  ///< the unit's own cgroup directories (host paths), shown read-only
  /// The host's cgroup mount points under /sys/fs/cgroup (cgroupMountPoints()); each unit sees an empty
  /// /sys/fs/cgroup but for its own directories, bound at their hierarchy's mount point.
  std::vector<std::string> cgroup_mounts;
  /// The sync directory whose socket the shared root's /run holds, with mpexec (shareRun); nullopt: none.
  /// A unit with a uid of its own whose spec.sync_dir it is, and that binds nothing under /run, mounts no
  /// /run of its own: it sees the shared root's, read-only.
  std::optional<std::string> shared_run;
};

/// In the unit's init, inside its new pid namespace (for /proc): the host's view, read-only (nosuid, nodev)
/// with every submount, idmapped through views.stranger where it exists (a unit then reads the host as a
/// stranger: no root-only file, no socket); a fresh tmpfs /tmp; a minimal /dev; a new /proc with sys,
/// sysrq-trigger, irq and bus read-only (and /proc/1, the init, where the unit has no uid of its own); a tmpfs /run holding the sync socket at /run/mpexec/sync.sock; an
/// empty /sys/fs/cgroup but for the unit's own cgroups (read-only); the project directories (spec.visible,
/// read-only) and the writable paths and the output directory (read-write, nosuid, nodev) at their real
/// paths, idmapped through views.owner where it exists (the unit owns them; what it leaves there is the
/// invoking user's); the spec's hidden directories covered with an empty read-only tmpfs, through which
/// only the binds inside them (the output directory) show; mpexec's executable at kExeInside. A directory
/// on the way to a bind that the unit's uid (views.uid) could not search is replaced by an empty read-only
/// tmpfs that shows only the way. Sources are opened without following symlinks (their paths were resolved
/// by the executor before any unit ran), and so are targets. The error's call names the step, e.g. "mount
/// /proc". What could not be done as asked but left the unit contained (a bind that could not be idmapped)
/// is appended to `note`, one phrase per thing, "; " between them.
///
/// `m.shared_root` < 0: the init is already in a new mount namespace; it makes it private, builds the root
/// over its /tmp and pivots into it. Otherwise `m.shared_root` is prepareSharedRoot()'s namespace and the
/// init is still in the host's: it copies its bind sources (open_tree), enters a new copy of the shared root
/// (setns, then unshare), and mounts only what is its own. No old root is detached then. Where setns is
/// refused (EPERM, EACCES), it unshares a mount namespace and builds the whole root instead.
Result<void> setupFilesystem(const UnitSpec& spec, const UnitMounts& m, std::string* note = nullptr);

/// What prepareSharedRoot() made.
struct SharedRoot {
  UniqueFd ns;       ///< its mount namespace (the fd keeps it alive)
  std::string note;  ///< host mounts it could not idmap, "path (type)", "; " between them
  std::optional<std::string> run;  ///< the sync directory of the /run shareRun made in it; nullopt: none
  int run_attempts = 0;
};

/// Once per run, with CAP_SYS_ADMIN and no user namespace: a throw-away child builds what every unit's root
/// has in common (the host's view, idmapped through `stranger` where it is not -1; /dev with the devices,
/// the pts and shm mount points and the links; an empty /sys/fs/cgroup with the mount points of
/// `cgroup_mounts`; all read-only), pivots into it, and its mount namespace is returned as an nsfs fd,
/// which keeps it alive. Fails where the kernel lacks open_tree or mount_setattr (before 5.12). It is a
/// snapshot: host mounts made later are not in it (bind sources are copied per unit, so those are current).
/// Forks: the caller must be single-threaded or glibc's fork must leave its heap usable.
Result<SharedRoot> prepareSharedRoot(int stranger = -1, const std::vector<std::string>& cgroup_mounts = {});

/// In the spawner, before it clones a unit that may use it: makes the shared root's /run what every unit
/// with a uid of its own would mount for itself, once per run rather than per unit: a tmpfs (0755, nosuid,
/// nodev) holding the socket in `sync_dir` (empty: none) at kSyncSocketInside and `exe` at kExeInside, each
/// a read-only copy of its own, and then made read-only itself. No process holds a writable mount of it,
/// and a unit's copy of it cannot be made writable without CAP_SYS_ADMIN over the unit's mount namespace,
/// which no unit has. True when /run holds `sync_dir`'s socket (made now or before); false when `root` has
/// no namespace or a throw-away child (forked: the caller must be single-threaded) could not make it, after
/// which units mount their own. A /run made for another sync directory is replaced; after three attempts
/// it is left as it is.
bool shareRun(SharedRoot& root, const std::string& exe, const std::string& sync_dir);

/// The host's cgroup mount points at or below /sys/fs/cgroup, from /proc/self/mountinfo.
std::vector<std::string> cgroupMountPoints();

}  // namespace mpexec::sandbox
