#pragma once
// The unit's first process: mpexec's own init, entered after fork/clone with no exec.

#include "sandbox/context.h"
#include "sandbox/unit_process.h"

namespace mpexec::sandbox {

/// Runs spec.commands one by one, each in its own session, reaps every process, and sends one Event per
/// step over `event_fd`. Then kills what is left of the unit and exits the process: never returns.
[[noreturn]] void runInit(const Context& ctx, const UnitSpec& spec, int event_fd);

}  // namespace mpexec::sandbox
