#include "sandbox/landlock.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

#include "sandbox/unique_fd.h"

namespace mpexec::sandbox {
namespace {

// struct landlock_ruleset_attr and the scope flags (linux/landlock.h, ABI 6), spelled out for older headers.
struct RulesetAttr {
  uint64_t handled_access_fs, handled_access_net, scoped;
};
constexpr uint64_t kScopeAbstractUnixSocket = 1, kScopeSignal = 2;
#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif
#ifndef SYS_landlock_restrict_self
#define SYS_landlock_restrict_self 446
#endif

}  // namespace

Result<void> scopeUnit(int abi) {
  if (abi < 6) return {};
  RulesetAttr attr{0, 0, kScopeAbstractUnixSocket | kScopeSignal};
  UniqueFd ruleset(int(syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0)));
  if (!ruleset) return sysError("landlock_create_ruleset", "scoped to the unit");
  if (syscall(SYS_landlock_restrict_self, ruleset.get(), 0) != 0) return sysError("landlock_restrict_self");
  return {};
}

}  // namespace mpexec::sandbox
