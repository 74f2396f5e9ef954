#pragma once
// Identity: the user namespace's id maps (written from the parent side) and the "nobody" switch.

#include <sys/types.h>

#include <cstdint>

#include "sandbox/context.h"
#include "sandbox/policy.h"
#include "sandbox/result.h"

namespace mpexec::sandbox {

/// Writes setgroups, uid_map and gid_map of `pid`, a process just cloned with CLONE_NEWUSER. Must run in
/// the parent user namespace. As non-root: one id each, the invoking uid/gid seen as itself ("self") or as
/// 65534 ("nobody"). As root: the identity map of every id; "nobody" is then switched to per command.
Result<void> writeIdMaps(pid_t pid, const Context& ctx, const Policy& policy);

/// setgroups({}), setresgid(65534), setresuid(65534). Needs CAP_SETUID/CAP_SETGID.
Result<void> switchToNobody();

/// In a command's own process, as root with Context::unitIds(): becomes the unit's host uid and gid
/// (ctx.unitIdBase() + identity), then creates a user namespace as that uid, where it is uid 0 (user
/// "self") or 65534 ("nobody"). The kernel then charges every per-user count (processes, inotify, user
/// namespaces...) to the unit's own uid, the init (the host's root, outside) is out of the command's reach,
/// and what the command holds in its namespace owns nothing: the unit's other namespaces belong to the
/// init's. Needs SECBIT_NO_SETUID_FIXUP (restrictUnit): the capabilities kept across the uid change let the
/// namespace be made past any restriction on unprivileged user namespaces. Afterwards: securebits set and
/// locked again (a new namespace resets them), empty bounding and ambient sets; clearCapabilities() and the
/// seccomp filter are the caller's. Async-signal-safe.
Result<void> becomeUnitUser(const Context& ctx, const Policy& policy, uint32_t identity);

}  // namespace mpexec::sandbox
