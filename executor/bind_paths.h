#pragma once
// The host paths a run binds into its units (writable paths, and the project directories that a unit's fresh
// /tmp and /run would hide), resolved once, before any unit runs (DESIGN §4 "Host paths").
//
// A unit may write below its writable paths, and a symlink it plants there could redirect a later unit's
// bind, of this run or of a later one. Resolving every path before the first unit starts closes the first;
// refusing a path whose resolution passes through a symlink inside a writable path (or the state directory)
// closes the second. The sandbox then opens each resolved path without following any symlink, so a link
// planted during the run makes that unit's set-up fail instead of redirecting it.

#include <map>
#include <string>
#include <vector>

#include "sandbox/result.h"

namespace mpexec {

class BindPaths {
 public:
  /// `unsafe`: the directories units may write (every writable path any unit declares) and the state
  /// directory. A symlink found inside one of them (or at one of them) is not followed: it may be a unit's.
  explicit BindPaths(const std::vector<std::string>& unsafe);

  /// Resolves the absolute `path` now, if not already done. Components that do not exist yet are kept as
  /// written (the sandbox then finds them, without symlinks, or fails).
  void add(const std::string& path);
  /// What add() found: the resolved path, or why it cannot be bound. A path never added is resolved now.
  Result<std::string> get(const std::string& path);

 private:
  Result<std::string> resolve(const std::string& path) const;
  std::vector<std::string> unsafe_;  ///< resolved
  std::map<std::string, Result<std::string>> resolved_;
};

}  // namespace mpexec
