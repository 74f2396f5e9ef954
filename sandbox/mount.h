#pragma once
// The unit's filesystem view (DESIGN §4): built inside a fresh mount namespace, then pivot_root; or, where a
// shared root was prepared, a copy of that with only the unit's own mounts added.

#include <string>

#include "sandbox/result.h"
#include "sandbox/unique_fd.h"
#include "sandbox/unit_process.h"

namespace mpexec::sandbox {

/// In the unit's init, inside its new pid namespace (for /proc): the host root bound read-only (nosuid, nodev)
/// with every submount; a fresh tmpfs /tmp; a minimal /dev; a new /proc with sys, sysrq-trigger, irq and bus
/// read-only; a tmpfs /run holding the sync directory (read-only) at /run/mpexec; the writable paths and the
/// output directory bound read-write at their real paths; the spec's hidden directories covered with an empty
/// read-only tmpfs, through which only the binds inside them (the output directory) show; mpexec's
/// executable `exe` read-only at kExeInside. Sources are opened without following symlinks (their paths
/// were resolved by the executor before any unit ran), and so are targets. The error's call names the step,
/// e.g. "mount /proc".
///
/// `shared_root` < 0: the init is already in a new mount namespace; it makes it private, builds the root over
/// its /tmp and pivots into it. Otherwise `shared_root` is prepareSharedRoot()'s namespace and the init is
/// still in the host's: it copies its bind sources (open_tree), enters a new copy of the shared root (setns,
/// then unshare), and mounts only what is its own. No old root is detached then. Where setns is refused
/// (EPERM, EACCES), it unshares a mount namespace and builds the whole root instead.
Result<void> setupFilesystem(const UnitSpec& spec, const std::string& exe, int shared_root = -1);

/// Once per run, with CAP_SYS_ADMIN and no user namespace: a throw-away child builds what every unit's root
/// has in common (the host root read-only with its submounts, and /dev with the devices, the pts and shm
/// mount points and the links, read-only), pivots into it, and its mount namespace is returned as an nsfs
/// fd, which keeps it alive. Fails where the kernel lacks open_tree or mount_setattr (before 5.12). It is a
/// snapshot: host mounts made later are not in it (bind sources are copied per unit, so those are current).
/// Forks: the caller must be single-threaded or glibc's fork must leave its heap usable.
Result<UniqueFd> prepareSharedRoot();

}  // namespace mpexec::sandbox
