#pragma once
// Landlock scoping of a unit (Linux 6.12, ABI 6): what its processes may reach outside the unit.

#include "sandbox/result.h"

namespace mpexec::sandbox {

/// Puts the calling process, and every process it starts from then on, in a Landlock domain of its own that
/// scopes abstract Unix sockets and signals: nothing in the unit connects to an abstract socket bound
/// outside it (the host's, with network "host"), or signals a process outside it. Called by the unit's init
/// before its first command, so that a group's commands share the domain (a teardown may signal what its
/// setup started). Needs no_new_privs or CAP_SYS_ADMIN. Nothing to do when `abi` < 6 (Context::landlockAbi).
Result<void> scopeUnit(int abi);

}  // namespace mpexec::sandbox
