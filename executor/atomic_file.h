#pragma once

#include <string>

#include "sandbox/result.h"

namespace mpexec {

/// What a write must survive. The rename alone covers a crash of mpexec: a reader sees the old file or the
/// new one. An fsync before it also covers a crash of the machine, for about half a millisecond on a disk.
enum class Survives { ProcessCrash, MachineCrash };

/// Writes `content` to `path` atomically: a temporary file beside it, fsync (for MachineCrash), then
/// rename. Creates the parent directory when missing.
Result<void> writeFileAtomic(const std::string& path, const std::string& content,
                             Survives survives = Survives::MachineCrash);

}  // namespace mpexec
