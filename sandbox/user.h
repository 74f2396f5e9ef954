#pragma once
// Identity: the user namespace's id maps (written from the parent side) and the "nobody" switch.

#include <sys/types.h>

#include "sandbox/context.h"
#include "sandbox/policy.h"
#include "sandbox/result.h"

namespace mpexec::sandbox {

/// Writes setgroups, uid_map and gid_map of `pid`, a process just cloned with CLONE_NEWUSER. Must run in
/// the parent user namespace. As non-root: one id each, the invoking uid/gid seen as itself ("self") or as
/// 65534 ("nobody"). As root: the identity map of every id; "nobody" is then switched to per command.
Result<void> writeIdMaps(pid_t pid, const Context& ctx, const Policy& policy);

/// Whether a command must switch to 65534 itself: user "nobody" when the id maps do not already do it.
bool commandSwitchesToNobody(const Context& ctx, const Policy& policy);

/// setgroups({}), setresgid(65534), setresuid(65534). Needs CAP_SETUID/CAP_SETGID.
Result<void> switchToNobody();

}  // namespace mpexec::sandbox
