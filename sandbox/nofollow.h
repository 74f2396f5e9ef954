#pragma once
// Host paths opened without following symlinks (DESIGN §4 "Host paths"): for every path mpexec or a unit's
// init opens, creates or binds below a directory that a unit can write, where a planted symlink must not
// redirect the privileged opener.

#include <sys/types.h>

#include <string>

#include "sandbox/result.h"
#include "sandbox/unique_fd.h"

namespace mpexec::sandbox {

/// Opens the absolute `path` with `flags` (as for openat; O_CLOEXEC is added) without following a symlink
/// in any component: openat2 with RESOLVE_NO_SYMLINKS where the kernel has it (5.6), else a walk of
/// O_NOFOLLOW opens. A symlink on the way fails with ELOOP (or ENOTDIR). `path` must not contain "..".
Result<UniqueFd> openNoFollow(const std::string& path, int flags);

/// Opens `rel` below the directory `dir` in one openat2 call, without following a symlink in any component
/// and without leaving `dir` (RESOLVE_BENEATH: an absolute `rel` is refused too). Fails with the call's errno
/// where there is no openat2 (ENOSYS: before Linux 5.6, or a seccomp filter such as a unit's own), so that
/// the caller can walk the way itself.
Result<UniqueFd> openBeneathNoFollow(int dir, const std::string& rel, int flags);

/// mkdir -p of the absolute `path` without following a symlink: each missing component is made with `mode`
/// below the directory opened before it. Returns the directory (O_PATH).
Result<UniqueFd> makeDirsNoFollow(const std::string& path, mode_t mode);

}  // namespace mpexec::sandbox
