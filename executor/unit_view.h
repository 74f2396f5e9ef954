#pragma once
// What of the host a sandboxed unit sees (DESIGN §4 "Host paths", docs/sandbox.md): which directories its
// fresh /tmp and /run would hide and are bound back (UnitSpec::visible), which are covered
// (UnitSpec::hidden), and its writable paths resolved. Every path is resolved once, before the first unit
// runs (bind_paths.h).

#include <optional>
#include <string>
#include <vector>

#include "executor/bind_paths.h"
#include "executor/manifest.h"
#include "sandbox/result.h"
#include "sandbox/unit_process.h"

namespace mpexec {

/// Whether `path` lies strictly below `dir` (both absolute, without a trailing '/').
bool under(const std::string& path, const std::string& dir);

/// Appends the project directories a command needs: its cwd, and its program's directory when argv[0] is a
/// path.
void projectDirs(const std::string& cwd, const std::vector<std::string>& argv, std::vector<std::string>& out);

/// Every writable path a unit of `m` may declare, and the state directory, sorted and without repeats: where
/// a unit may have put a symlink (see BindPaths).
std::vector<std::string> unsafeDirs(const Manifest& m, const std::string& state_dir);

/// The directories a unit needs to see that its fresh /tmp and /run hide: the manifest's, each of `spec`'s
/// commands' cwd and program directory (as `paths` resolves them), when they lie there and no writable path
/// of the spec, nor another of them, already covers them; only the outermost of nested ones. Never /tmp or
/// /run themselves: those hold every program's files, and the unit's are its own (a manifest straight in
/// /tmp runs in the unit's fresh /tmp).
///
/// `project`, when not empty, is returned too wherever it lies (a unit of its own uid sees the rest of the
/// host as a stranger, and the project as its own). An error when a directory cannot be resolved.
Result<std::vector<std::string>> hiddenPaths(const std::string& manifest_dir, const sandbox::UnitSpec& spec,
                                             BindPaths& paths, const std::string& project);

/// Whether `dir` holds other programs' files beside the project's: it is `/`, holds `home` (the invoking
/// user's), may be written by everybody (/tmp, /var/tmp), or holds a directory that may. Bound through a
/// unit's owner view, every file of the invoking user's there, sockets included, would be the unit's own.
bool sharedWithOthers(const std::string& dir, const std::string& home);

/// The host as every sandboxed unit of one run sees it.
class UnitView {
 public:
  /// Resolves every path a unit of `m` may be bound (writable paths, the manifest's directory, each command's
  /// cwd and program directory) and `sync_dir` (the sync socket's directory; empty: none). `home`: the
  /// invoking user's home directory (empty: unknown); `privileged`: the run is root's, whose units are not
  /// that user.
  UnitView(const Manifest& m, const std::string& state_dir, const std::string& sync_dir,
           const std::string& home, bool privileged);

  /// What every unit's view covers (UnitSpec::hidden): the state directory (only its runs/ when it is the
  /// project directory itself); for a run that is not privileged, also the user's ~/.ssh and ~/.gnupg when
  /// they are directories (agent sockets, keys), since its units are that user.
  const std::vector<std::string>& hidden() const { return hidden_; }
  /// The manifest's directory, resolved, which units with ids of their own get bound as their own (read only)
  /// wherever it lies; empty where it holds other programs' files (sharedWithOthers()).
  const std::string& projectDir() const { return project_dir_; }
  /// The sync socket's directory, resolved (as given when it cannot be); empty without one.
  const std::string& syncDir() const { return sync_dir_; }

  /// Resolves each of `policy.writable` in place. On refusal, why ("sandbox: ..."): a path that cannot be
  /// resolved, or one in the state directory, which is never a unit's to write (DESIGN §4); for a unit with a
  /// unit id of its own (`own_ids`), also one that holds every program's files (sharedWithOthers() without
  /// a home), which its owner view would make the unit's own.
  std::optional<std::string> resolveWritable(sandbox::Policy& policy, bool own_ids);
  /// hiddenPaths() for `spec`, whose writable paths resolveWritable() resolved; with projectDir() when the
  /// unit has a unit id of its own (`own_ids`).
  Result<std::vector<std::string>> visible(const sandbox::UnitSpec& spec, bool own_ids);

 private:
  std::string manifest_dir_;
  std::string state_dir_;
  BindPaths paths_;
  std::vector<std::string> hidden_;
  std::string project_dir_;
  std::string sync_dir_;
};

}  // namespace mpexec
