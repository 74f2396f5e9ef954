#pragma once
// Reading a file the user names (a manifest, a shard report, a durations file): a regular file or a pipe
// (`mpexec <(generate)`), never a directory or a device, and never more than a bound, so that
// `mpexec /dev/zero` is an error rather than a read that fills the memory.

#include <cstddef>
#include <string>

#include "sandbox/result.h"

namespace mpexec {

/// The most bytes readInputFile() reads: far above any manifest or report (100k tests is about 10 MiB).
constexpr std::size_t kMaxInputBytes = std::size_t(1) << 30;

/// The contents of `path`. Fails, the Error's message saying "PATH: why", when it cannot be read, is a
/// directory, a device or a socket, or holds more than `max_bytes`.
Result<std::string> readInputFile(const std::string& path, std::size_t max_bytes = kMaxInputBytes);

}  // namespace mpexec
