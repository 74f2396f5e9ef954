#pragma once
// Unit cgroups (DESIGN §4 "Limits"): cgroup v2 where a delegated subtree is writable, else the v1 memory and
// pids hierarchies plus the hybrid's empty cgroup2 for cgroup.kill, else none (rlimits, see restrictCommand).
// Everything lives in mpexec-<pid>/ directories created below mpexec's own cgroup, and is removed again.

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "sandbox/contain.h"
#include "sandbox/policy.h"
#include "sandbox/result.h"

namespace mpexec::sandbox {

enum class CgroupVersion { V1, V2 };

/// What one of `slots` units running at once may take of the host's task table (every process and thread
/// of every uid draws a pid below kernel.pid_max and counts against kernel.threads-max): the smaller of the
/// two, divided by slots + 1, so that units that all fork until refused leave the host a share of its own.
/// 0 when neither can be read.
uint64_t taskShare(int slots);

/// The per-run directories under mpexec's own cgroup(s). Move-only in spirit: owned by the Context.
class CgroupRoot {
 public:
  /// Reads /proc/self/cgroup and /proc/self/mountinfo and creates mpexec-<pid>/ where it may. Returns null
  /// when no hierarchy is usable; `why` then says what was missing (for -v).
  static std::unique_ptr<CgroupRoot> detect(std::string* why = nullptr);
  /// Removes the mpexec-<pid>/ directories (and undoes a v2 supervisor move).
  ~CgroupRoot();
  CgroupRoot(const CgroupRoot&) = delete;
  CgroupRoot& operator=(const CgroupRoot&) = delete;

  CgroupVersion version() const { return version_; }
  bool limitsMemory() const { return !memory_dir_.empty(); }
  bool limitsPids() const { return !pids_dir_.empty(); }
  bool canKill() const { return !kill_dir_.empty(); }
  /// E.g. "cgroup v1 (memory, pids) + cgroup2 kill", "cgroup v2 (memory, pids)".
  std::string describe() const;

  /// Creates the unit's cgroup(s) with `policy`'s limits. The name is made unique within the run. On v1
  /// with the unified kill directory, a memory or pids directory only when the policy sets that limit.
  Result<std::unique_ptr<class UnitCgroupDirs>> createUnit(const std::string& unit, const Policy& policy) const;

 private:
  CgroupRoot() = default;
  CgroupVersion version_ = CgroupVersion::V1;
  std::string memory_dir_;  ///< mpexec-<pid>/ holding memory-limited units (v2: the one directory)
  std::string pids_dir_;    ///< ... pids-limited units (v2: same as memory_dir_ when enabled)
  std::string kill_dir_;    ///< ... in a cgroup2 hierarchy, for cgroup.kill (v2: the one directory)
  /// kill_dir_ has cgroup.kill (kernel 5.14+), and so has every cgroup below it: asked once, not per unit.
  bool has_kill_file_ = false;
  std::vector<std::string> created_;  ///< directories to remove, deepest last
  // v2 only: mpexec moved itself from base_ into a leaf to enable controllers in base_ (no internal
  // processes); the destructor disables them again and moves back.
  std::string base_;
  std::string enabled_in_base_;  ///< e.g. "memory pids"
  bool moved_self_ = false;
};

/// One unit's cgroup directories. The destructor kills what is left and removes them (rmdir retries).
class UnitCgroupDirs : public UnitCgroup {
 public:
  ~UnitCgroupDirs() override;
  uint64_t oomKills() const override;
  void killAll() override;
  /// Moves the calling (single-threaded) process into every directory, so the init it then clones is born
  /// inside and never runs unlimited. A v1 directory gets "0" in `tasks`: moving oneself takes no global
  /// lock there, while a write to cgroup.procs waits for the kernel's cgroup_threadgroup_rwsem (~ms). A v2
  /// directory is left out when `skip_v2`: the caller clones into it with CLONE_INTO_CGROUP.
  Result<void> join(bool skip_v2 = false) const;
  /// An fd of the v2 directory (the unit's, or the hybrid's cgroup.kill one) for CLONE_INTO_CGROUP; -1 when
  /// there is none. The caller closes it.
  int openV2Dir() const;
  /// join() and openV2Dir() for a process that has only the directory names (the spawner, the init).
  static Result<void> joinDirs(const std::vector<std::string>& dirs, bool skip_v2);
  static int openV2DirOf(const std::vector<std::string>& dirs);
  /// The directories, for tests and -v.
  const std::vector<std::string>& dirs() const override { return dirs_; }

 private:
  friend class CgroupRoot;
  UnitCgroupDirs() = default;
  std::vector<std::string> dirs_;
  std::string oom_file_;   ///< memory.events (v2) or memory.oom_control (v1): both have an "oom_kill N" line
  std::string kill_file_;  ///< cgroup.kill, or empty: then a SIGKILL sweep of cgroup.procs
};

}  // namespace mpexec::sandbox
