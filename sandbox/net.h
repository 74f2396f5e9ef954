#pragma once
// Network: with network "none" the unit has a fresh net namespace whose loopback must be brought up.

#include "sandbox/result.h"

namespace mpexec::sandbox {

/// Sets IFF_UP on "lo" with SIOCSIFFLAGS (no netlink, no `ip` binary).
Result<void> bringUpLoopback();

/// Makes the calling process's network namespace (new, made by the caller) use IGMPv2 and MLDv1 on all its
/// devices (`force_igmp_version` 2, `force_mld_version` 1 under /proc/sys/net/.../conf/all): leaving a
/// multicast group then sends its report at once or not at all, and no report is left to a timer once the
/// last member is gone (IGMPv3 and MLDv2 resend state-change reports for up to a second after a leave).
/// Without IPv6 only the first. False where /proc/sys cannot be written.
bool quietMulticast();

/// Whether the calling process's network namespace is as quietMulticast() leaves it (read back, so that it
/// also holds for a namespace made by another process).
bool multicastIsQuiet();

}  // namespace mpexec::sandbox
