#include "sandbox/caps.h"

#include <linux/capability.h>
#include <linux/securebits.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace mpexec::sandbox {

Result<void> dropCapabilityBounds(int last_cap, Bounds bounds) {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return sysError("prctl", "PR_SET_NO_NEW_PRIVS");
  // Without these bits, a command running as uid 0 would get full capabilities back at execve. Needs
  // CAP_SETPCAP; without it (already unprivileged) the bits do not matter, so EPERM is not an error.
  // SECBIT_NO_SETUID_FIXUP: a command that becomes its unit's own uid (becomeUnitUser) keeps the init's
  // capabilities across the change, long enough to create its user namespace as that uid, past any
  // restriction on unprivileged user namespaces; the new namespace then resets them all.
  const unsigned long bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE |
                             SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED | SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_SETUID_FIXUP;
  if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) != 0 && errno != EPERM)
    return sysError("prctl", "PR_SET_SECUREBITS");
  MPEXEC_TRY(dropBoundingSet(last_cap, bounds));
  if (bounds == Bounds::Full) return {};  // a new user namespace's ambient set is empty
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
    return sysError("prctl", "PR_CAP_AMBIENT_CLEAR_ALL");
  return {};
}

Result<void> dropBoundingSet(int last_cap, Bounds bounds) {
  if (bounds == Bounds::Dropped) return {};
  for (int cap = 0; cap <= last_cap; ++cap) {
    // Already out: a read commits nothing, a drop commits new credentials.
    if (bounds == Bounds::Unknown && prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 0) continue;
    // EINVAL: the kernel does not know this capability. EPERM: no CAP_SETPCAP, so nothing to drop from.
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL && errno != EPERM)
      return sysError("prctl", "PR_CAPBSET_DROP");
  }
  return {};
}

Result<void> clearCapabilities() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (syscall(SYS_capset, &header, data) != 0) return sysError("capset");
  return {};
}

}  // namespace mpexec::sandbox
