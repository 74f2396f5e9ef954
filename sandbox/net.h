#pragma once
// Network: with network "none" the unit has a fresh net namespace whose loopback must be brought up.

#include "sandbox/result.h"

namespace mpexec::sandbox {

/// Sets IFF_UP on "lo" with SIOCSIFFLAGS (no netlink, no `ip` binary).
Result<void> bringUpLoopback();

}  // namespace mpexec::sandbox
