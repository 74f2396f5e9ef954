#pragma once
// The unit's first process: mpexec's own init, entered after fork/clone with no exec.

#include <cstddef>
#include <optional>

#include "sandbox/context.h"
#include "sandbox/unit_process.h"

namespace mpexec::sandbox {

/// Runs spec.commands one by one, each in its own session, reaps every process, and sends one Event per
/// step over `event_fd`. Then kills what is left of the unit and exits the process: never returns.
///
/// With Isolation::None, an init that swept its unit clean (and so sent Done) waits for another unit on
/// `event_fd` (UnitProcess::runNext) and runs it the same way, with the first unit's log directory; it
/// exits when the executor closes the socket instead.
[[noreturn]] void runInit(const Context& ctx, const UnitSpec& spec, int event_fd);

/// For a unit spawned with UnitSpec::hold: waits for UnitProcess::go() on `event_fd` and puts its slot into
/// the commands' MPEXEC_SLOT. False when the executor closed the socket instead (the unit is not wanted).
bool awaitGo(int event_fd, UnitSpec& spec);

/// For a reusable init that sent Done: waits for UnitProcess::runNext() on `event_fd`. Nothing when the
/// executor closed the socket (or sent something else).
std::optional<UnitSpec> awaitNext(int event_fd);

/// What UnitProcess::go() sends.
struct GoMessage {
  uint32_t magic = 0x676f2121;  // "go!!"
  int32_t slot = 0;
};

/// What UnitProcess::runNext() sends: this header, then the unit's encodeSpawnRequest() bytes in datagrams
/// of kNextChunk bytes (the last one shorter).
struct NextHeader {
  uint32_t magic = 0x6e657874;  // "next"
  uint32_t reserved = 0;
  uint64_t size = 0;
};
inline constexpr size_t kNextChunk = 32 * 1024;

}  // namespace mpexec::sandbox
