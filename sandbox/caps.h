#pragma once
// Dropping privileges in a command before exec: no_new_privs, securebits, and empty capability sets.

#include "sandbox/result.h"

namespace mpexec::sandbox {

/// Sets PR_SET_NO_NEW_PRIVS, locks securebits so that uid 0 gets no capabilities from execve, and
/// empties the bounding and ambient sets. Needs CAP_SETPCAP for the bounding set, so call it before
/// clearCapabilities() and before any uid change.
Result<void> dropCapabilityBounds(int last_cap);

/// Empties the bounding set alone, skipping what is already out of it (each drop commits new
/// credentials). The spawner calls it once as root: the bounding set only limits what an execve can gain,
/// the spawner and the inits never exec, and every init without a user namespace inherits the empty set,
/// so its dropCapabilityBounds() has nothing left to drop. A new user namespace starts with a full set.
Result<void> dropBoundingSet(int last_cap);

/// Empties the permitted, effective and inheritable sets (capset with zero sets).
Result<void> clearCapabilities();

}  // namespace mpexec::sandbox
