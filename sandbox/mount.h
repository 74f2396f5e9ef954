#pragma once
// The unit's filesystem view (DESIGN §4): built inside a fresh mount namespace, then pivot_root.

#include <string>

#include "sandbox/result.h"
#include "sandbox/unit_process.h"

namespace mpexec::sandbox {

/// In the unit's init, inside its new mount namespace (and pid namespace, for /proc):
/// private propagation; the host root bound read-only (nosuid, nodev) with every submount; a fresh tmpfs
/// /tmp; a minimal /dev; a new /proc with sys, sysrq-trigger, irq and bus read-only; a tmpfs /run holding
/// the sync directory (read-only) at /run/mpexec; the writable paths and the output directory bound
/// read-write at their real paths; mpexec's executable `exe` read-only at kExeInside; then pivot_root. Targets are opened without following symlinks.
/// The error's call names the step, e.g. "mount /proc".
Result<void> setupFilesystem(const UnitSpec& spec, const std::string& exe);

}  // namespace mpexec::sandbox
