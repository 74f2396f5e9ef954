#pragma once
// Dropping privileges in a command before exec: no_new_privs, securebits, and empty capability sets.

#include "sandbox/result.h"

namespace mpexec::sandbox {

/// What the caller knows of its bounding set, so that emptying it takes no more prctl calls than it must
/// (on a virtual machine each call is an exit to the hypervisor: ~2 us here).
enum class Bounds {
  Unknown,  ///< each capability is read, and dropped when it is still in the set
  /// Just made full by a new user namespace (the kernel's set_cred_user_ns gives the creator every
  /// capability in its bounding set, and an empty ambient set): each is dropped without a read.
  Full,
  /// dropBoundingSet() already ran on these very credentials (the spawner's, which an init cloned without a
  /// user namespace shares): whatever it could not drop, no call here could.
  Dropped,
};

/// Sets PR_SET_NO_NEW_PRIVS, locks securebits so that uid 0 gets no capabilities from execve, and
/// empties the bounding and ambient sets. Needs CAP_SETPCAP for the bounding set, so call it before
/// clearCapabilities() and before any uid change.
Result<void> dropCapabilityBounds(int last_cap, Bounds bounds);

/// Empties the bounding set alone, skipping what is already out of it (each drop commits new
/// credentials). The spawner calls it once as root: the bounding set only limits what an execve can gain,
/// the spawner and the inits never exec, and every init without a user namespace inherits the empty set,
/// so its dropCapabilityBounds() has nothing left to drop (Bounds::Dropped). A new user namespace starts
/// with a full set (Bounds::Full).
Result<void> dropBoundingSet(int last_cap, Bounds bounds = Bounds::Unknown);

/// Empties the permitted, effective and inheritable sets (capset with zero sets).
Result<void> clearCapabilities();

}  // namespace mpexec::sandbox
