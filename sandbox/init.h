#pragma once
// The unit's first process: mpexec's own init, entered after fork/clone with no exec.

#include "sandbox/context.h"
#include "sandbox/unit_process.h"

namespace mpexec::sandbox {

/// Runs spec.commands one by one, each in its own session, reaps every process, and sends one Event per
/// step over `event_fd`. Then kills what is left of the unit and exits the process: never returns.
[[noreturn]] void runInit(const Context& ctx, const UnitSpec& spec, int event_fd);

/// For a unit spawned with UnitSpec::hold: waits for UnitProcess::go() on `event_fd` and puts its slot into
/// the commands' MPEXEC_SLOT. False when the executor closed the socket instead (the unit is not wanted).
bool awaitGo(int event_fd, UnitSpec& spec);

/// What UnitProcess::go() sends.
struct GoMessage {
  uint32_t magic = 0x676f2121;  // "go!!"
  int32_t slot = 0;
};

}  // namespace mpexec::sandbox
