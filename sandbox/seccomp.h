#pragma once
// The seccomp policy of DESIGN §4: compiled once in the parent with libseccomp, loaded in each command.

#include <linux/filter.h>

#include <vector>

#include "sandbox/result.h"

namespace mpexec::sandbox {

enum class SeccompProfile {
  Default,  ///< denies namespace and mount calls too
  Nested,   ///< allows user namespaces and what comes with them (unshare, clone flags, mount family)
  Guard,    ///< `seccomp: off`: only what no unit may do whatever its policy (the guard rules)
};

/// A BPF program exported from libseccomp, ready for seccomp(SECCOMP_SET_MODE_FILTER).
struct SeccompProgram {
  std::vector<sock_filter> insns;
};

/// Builds the filter: default allow; the denied calls fail with EPERM, clone3 with ENOSYS (so that libc falls
/// back to clone, whose flags a filter can inspect); syscalls of a foreign ABI kill the process.
///
/// Every profile has the guard rules: no setuid or setgid bit in the mode of chmod, fchmod, fchmodat,
/// fchmodat2, creat, mknod, mknodat, or open and openat that create (O_CREAT, O_TMPFILE); openat2, whose mode
/// a filter cannot read, fails with ENOSYS (libc falls back to openat); no prlimit64 that sets a limit of
/// pid 1 (the unit's init). Nested adds no xattr writes: in a user namespace of its own a command holds
/// CAP_SETFCAP, and a file capability set through an idmapped mount would be stored as the host's.
///
/// Default and Nested also refuse what names a namespace or the init (ids, cookies, file handles, a pidfd
/// of pid 1: docs/sandbox.md, "What a unit can tell"): nsfs ioctls but the owner, parent, type and pid
/// translations; getsockopt SO_NETNS_COOKIE; pidfd_open(1); name_to_handle_at (EOPNOTSUPP).
Result<SeccompProgram> compileSeccomp(SeccompProfile profile);

/// Installs `program` on the calling thread. Async-signal-safe (no allocation), so it may run between fork
/// and exec. The caller must already have no_new_privs or CAP_SYS_ADMIN.
Result<void> loadSeccomp(const SeccompProgram& program);

}  // namespace mpexec::sandbox
