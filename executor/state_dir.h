#pragma once
// The state directory's upkeep (.mpexec/ beside the manifest, or --state-dir): marked as a cache the way
// pytest marks .pytest_cache, and its run history capped (--keep-runs). Units may be able to write below
// it (a writable path that covers the project), so nothing here follows a symlink: every path is walked
// from a directory fd, with O_NOFOLLOW, and removed with unlinkat.

#include <atomic>
#include <string>
#include <vector>

#include "sandbox/result.h"

namespace mpexec {

/// Writes `.gitignore` ("*": git ignores the directory) and `CACHEDIR.TAG` (backup tools skip it) into the
/// directory open as `state_fd`, unless a file of that name is there already.
void markStateDirectory(int state_fd);

/// Removes `name` in the directory open as `dir_fd`, and everything below it. A symlink is removed, never
/// followed; a directory a test made unreadable is made readable first (as the owner may). Fails, naming
/// the first entry it could not remove, when something stays. Gives up, leaving the rest, once `stop`
/// (when given) is set.
Result<void> removeTree(int dir_fd, const std::string& name, const std::atomic<bool>* stop = nullptr);

struct PrunedRuns {
  std::vector<std::string> removed;   ///< run ids, oldest first
  std::vector<std::string> problems;  ///< what could not be removed, and why
  size_t in_use = 0;                  ///< old runs kept because an mpexec still runs in them
};

/// Keeps the newest `keep` run directories (named by makeRunId(): "YYYYmmdd-HHMMSS-<µs><hex>", oldest first by
/// name) in the directory open as `runs_fd` and removes the older ones, never `current` and never one
/// that a running mpexec holds (holdRunDirectory()). Entries that are not run directories (other names,
/// symlinks, files) are left alone. `keep` 0 keeps every run. Stops early once `stop` (when given) is set.
PrunedRuns pruneRuns(int runs_fd, size_t keep, const std::string& current, const std::atomic<bool>* stop = nullptr);

/// A shared lock on the run directory open as `run_fd`, held while the fd stays open: pruneRuns() of
/// another mpexec leaves the directory alone meanwhile.
void holdRunDirectory(int run_fd);

}  // namespace mpexec
