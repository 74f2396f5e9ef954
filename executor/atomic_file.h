#pragma once

#include <string>

#include "sandbox/result.h"

namespace mpexec {

/// What a write must survive. The rename alone covers a crash of mpexec: a reader sees the old file or the
/// new one. An fsync before it also covers a crash of the machine, for about half a millisecond on a disk.
enum class Survives { ProcessCrash, MachineCrash };

/// Whether the directories on the way to the file may be symlinks. NoSymlinks is for a path resolved before
/// any unit ran (a report or the state in a directory a unit may write): a symlink found there now was
/// planted since, and the write fails instead of following it.
enum class Follow { Symlinks, NoSymlinks };

/// Writes `content` to `path` atomically: a temporary file beside it (created anew, never through a symlink
/// or over an existing file), fsync (for MachineCrash), then rename (which replaces a symlink at `path`
/// rather than writing through it). Creates the parent directory when missing.
Result<void> writeFileAtomic(const std::string& path, const std::string& content,
                             Survives survives = Survives::MachineCrash, Follow follow = Follow::Symlinks);

}  // namespace mpexec
