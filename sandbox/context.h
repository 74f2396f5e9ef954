#pragma once
// Host facts and parent-side preparation made once per run (owned by the sandbox/ kernel-concern code).

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "sandbox/result.h"
#include "sandbox/unique_fd.h"
#include "sandbox/unit_process.h"

namespace mpexec::sandbox {

class CgroupRoot;
struct SeccompProgram;

class Context {
 public:
  /// Detects what the host supports (user namespaces, cgroup backend) and prepares what every unit shares
  /// (the compiled seccomp program). With Isolation::Namespaces, fails with a one-line explanation that
  /// mentions --no-sandbox when the host cannot create the namespaces.
  static Result<std::unique_ptr<Context>> create(Isolation isolation);
  virtual ~Context();

  /// create() in two halves: begin() starts the namespace probe in a child and returns at once, so that the
  /// caller reads its manifest meanwhile; finish() does the rest and collects the probe's verdict. A Pending
  /// dropped unfinished reaps its probe.
  class Pending {
   public:
    Pending(Pending&& other) noexcept;
    Pending& operator=(Pending&&) = delete;
    ~Pending();

   private:
    friend class Context;
    explicit Pending(Isolation isolation) : isolation_(isolation) {}
    Isolation isolation_;
    bool user_namespace_ = false;  ///< what the probe tries
    pid_t probe_pid_ = -1;
    UniqueFd probe_verdict_;  ///< the read end of the probe's pipe
    Error start_error_;       ///< why no probe started (probe_pid_ is -1)
  };
  static Pending begin(Isolation isolation);
  static Result<std::unique_ptr<Context>> finish(Pending pending);

  Isolation isolation() const { return isolation_; }
  /// Which limits units get, for the report: e.g. {"memory", "pids"} with cgroups, {"rlimit"} without.
  virtual std::vector<std::string> limits() const;
  /// One line for the report and -v, e.g. "namespaces, cgroup v1 (memory, pids), seccomp".
  virtual std::string describe() const;

  // What the kernel-concern steps read. Set by create(); a default-constructed Context has none of it.

  /// Whether a unit's init gets a user namespace: always when mpexec is not root (or root could not create
  /// namespaces without one); for root only when the policy asks for nested namespaces and units have no
  /// ids of their own (unitIds() is 0): otherwise each command gets a user namespace of its own.
  bool usesUserNamespace(const Policy& policy) const;
  /// Whether mpexec may create namespaces without a user namespace (root with CAP_SYS_ADMIN). Then id
  /// maps map every id, and user "nobody" is a per-command switch.
  bool privileged() const { return privileged_; }
  /// The invoking user's ids (outside every namespace).
  uid_t uid() const { return uid_; }
  gid_t gid() const { return gid_; }
  /// mpexec's own executable (its /proc/self/exe when the Context was made), which every sandbox binds at
  /// kExeInside for `"$MPEXEC_EXE" sync ...`.
  const std::string& exe() const { return exe_; }
  /// How many host uids (and gids) units of a privileged run may take, from unitIdBase(): the n-th unit
  /// alive at a time runs its commands as unitIdBase() + n (UnitSpec::identity), never as the host's uid 0.
  /// 0 when units run as mpexec's own uid 0, without capabilities: not root, no spare ids in mpexec's user
  /// namespace, or no idmapped mounts, without which a unit could not write what the invoking user owns.
  unsigned unitIds() const { return unit_ids_; }
  uid_t unitIdBase() const { return unit_id_base_; }
  /// Whether host filesystems can be idmapped here (root, Linux 5.12+ and a root filesystem that allows
  /// it): the unit's view of the host then maps none of the host's ids, and what the unit owns is mapped.
  bool idmappedMounts() const { return idmapped_mounts_; }
  /// The Landlock ABI the kernel offers (0: none, also with MPEXEC_NO_LANDLOCK=1 in mpexec's environment);
  /// from 6 on, each unit's init scopes abstract Unix sockets and signals to the unit.
  int landlockAbi() const { return landlock_abi_; }
  /// Whether a unit set up ahead may wait at SCHED_IDLE: only when mpexec can put it back to SCHED_OTHER
  /// (CAP_SYS_NICE in the initial user namespace, or an RLIMIT_NICE of 20), or its command would run idle.
  bool idleAhead() const { return idle_ahead_; }
  /// Highest capability number the kernel knows (/proc/sys/kernel/cap_last_cap).
  int lastCap() const { return last_cap_; }
  /// Where unit cgroups are made; null when limits fall back to rlimits.
  const CgroupRoot* cgroups() const { return cgroups_.get(); }
  /// Whether the cgroup backend enforces Policy::memory_bytes / Policy::pids (else restrictCommand sets
  /// rlimits).
  bool cgroupLimitsMemory() const;
  bool cgroupLimitsPids() const;
  /// The compiled seccomp filter for `policy`. With policy.seccomp off, only the guard (no setuid or setgid
  /// file, no limits set on the unit's init: SeccompProfile::Guard).
  const SeccompProgram* seccompFor(const Policy& policy) const;

 protected:
  explicit Context(Isolation isolation);

 private:
  // The wire form for a spawner program of its own (sandbox/spawner.h): every fact above except the
  // CgroupRoot, which stays with mpexec (it removes the directories); the limits it offers travel as flags.
  friend std::string encodeContext(const Context& ctx);
  friend Result<std::unique_ptr<Context>> decodeContext(const std::string& bytes);

  Isolation isolation_;
  bool privileged_ = false;
  bool idle_ahead_ = false;  ///< euid 0 and able to unshare without a user namespace
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  int last_cap_ = 40;
  std::string exe_;
  std::unique_ptr<CgroupRoot> cgroups_;
  bool limits_memory_ = false;  ///< cgroups_ enforces Policy::memory_bytes
  bool limits_pids_ = false;    ///< ... Policy::pids
  bool idmapped_mounts_ = false;
  unsigned unit_ids_ = 0;
  uid_t unit_id_base_ = 0;
  UniqueFd unit_id_lock_;  ///< held for the run: no other mpexec of this host takes the same ids
  int landlock_abi_ = 0;
  bool landlock_off_ = false;  ///< MPEXEC_NO_LANDLOCK=1 in mpexec's environment: landlock_abi_ 0 whatever the kernel
  std::unique_ptr<SeccompProgram> seccomp_default_;
  std::unique_ptr<SeccompProgram> seccomp_nested_;
  std::unique_ptr<SeccompProgram> seccomp_guard_;
  /// The namespace probe, once it has given its verdict: it only exits then (its mount and network namespaces
  /// torn down), which nothing waits for; the destructor reaps it. -1: none.
  pid_t probe_exiting_ = -1;
};

}  // namespace mpexec::sandbox
