// spawnContained on its own, so that code using only the steps (their tests) does not pull in runInit.
#include "sandbox/contain.h"
#include "sandbox/init.h"

namespace mpexec::sandbox {

Result<ContainedChild> spawnContained(const Context& ctx, const UnitSpec& spec, int child_event_fd) {
  return spawnContainedWith(ctx, spec, child_event_fd, [&]() -> int { runInit(ctx, spec, child_event_fd); });
}

}  // namespace mpexec::sandbox
