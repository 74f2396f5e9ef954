#pragma once
// A slot's sandbox taken over by the slot's next unit (docs/sandbox.md, "Recycled sandboxes"): what the
// init checks once a unit is swept, and what it makes anew before the next one. The pid and network
// namespaces are kept (a new network namespace costs about as much as the fork and exec of a trivial test);
// everything else a unit could see or change is new, and what cannot be new is checked empty.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sandbox/context.h"
#include "sandbox/mount.h"
#include "sandbox/result.h"
#include "sandbox/unit_process.h"

namespace mpexec::sandbox {

/// The network namespace's statistics, file by file (kStatisticsFiles, in order): what a process of the
/// namespace can read of its past, every counter (packets, segments, errors), the multicast groups, and
/// IPv6's route statistics and route reference counts, which a route lookup alone moves (a connect() of a
/// UDP socket to ::1 caches a route per CPU, without a packet).
using NetworkStatistics = std::vector<std::pair<std::string, std::string>>;
inline constexpr const char* kStatisticsFiles[] = {
    "/proc/net/snmp", "/proc/net/snmp6",  "/proc/net/netstat",  "/proc/net/dev",
    "/proc/net/igmp", "/proc/net/igmp6", "/proc/net/rt6_stats", "/proc/net/ipv6_route"};

/// What an init that may take further units keeps after its set-up, where a one-unit init closes it. Only
/// for units of root with ids of their own (IdViews set), on the shared root, with network "none", outside
/// a user namespace: there no process of the unit holds any capability in any of the unit's namespaces.
struct RecycleKit {
  bool enabled = false;
  int host_mnt = -1;     ///< the host's mount namespace: the next unit's bind sources are copied there
  /// /proc/sys/kernel/ns_last_pid, opened for writing at the first set-up (a host whose /proc/sys is
  /// read-only never recycles, rather than failing the next unit's set-up)
  int last_pid = -1;
  int shared_root = -1;  ///< prepareSharedRoot()'s namespace, of which the next unit gets a new copy
  std::string shared_root_note;
  std::optional<std::string> shared_run;  ///< as UnitMounts::shared_run
  IdViews views;  ///< the unit id's views, which the next unit keeps with the id
  std::vector<std::string> cgroup_mounts;
  /// Checks turned off for the residue suite alone (MPEXEC_TEST_RECYCLE_SKIP, a comma-separated list of
  /// names below): the suite shows that each one is needed.
  std::vector<std::string> skip;
  bool skips(const char* check) const;
  /// The statistics of the network namespace as the kit's first unit found it, new (readNetworkStatistics):
  /// a unit after it is given the sandbox only while they have not moved.
  NetworkStatistics statistics;
  /// For the executor's tests alone (MPEXEC_TEST_RECYCLE_FAIL): every recycled set-up fails.
  bool fail_setup = false;
};

/// readNetworkStatistics() of the calling process's network namespace (files missing without IPv6 left
/// out), or the error of the first file that could not be read.
Result<NetworkStatistics> readNetworkStatistics();

/// Whether `spec` may be recycled (UnitSpec::recycle asked for it and the init got its kit; with seccomp,
/// whose identity rules keep the kept namespaces unnamed): the spawner's side of the decision. Fills in `kit` from what the init was handed.
bool wantsRecycling(const Context& ctx, const UnitSpec& spec, const IdViews& views, int shared_root);

/// In the init, after its unit's last process is reaped: whether the kept namespaces hold anything of the
/// unit that the next unit could see or feel. The network namespace's statistics must not have moved since
/// it was new (kit.statistics: no packet, no socket that changed state; the next unit reads what a new
/// namespace shows), and it must hold no socket (every protocol's in-use count in /proc/net/protocols;
/// sock_diag over Unix sockets) and no IPv6 flow label. The error names the first residue found
/// ("residue" EBUSY "the unit used the network: /proc/net/snmp: Tcp ActiveOpens 0 -> 1"), or the check
/// that could not be made.
Result<void> checkResidue(const RecycleKit& kit);

/// In the init, for the next unit: the init moves itself into the unit's new cgroups (`cgroup_dirs`, made by
/// the executor); new cgroup, IPC and UTS namespaces; pid numbering back to the start (the next process is pid 2); a new
/// copy of the shared root with the unit's own mounts (a new /tmp, /dev/shm, /dev/pts, /proc, /run, its
/// binds and output directory, its cgroups) made as for a new unit; its hostname. `note` as setupFilesystem's.
Result<void> recycleSandbox(const Context& ctx, const RecycleKit& kit, const UnitSpec& spec,
                            const std::vector<std::string>& cgroup_dirs, std::string* note);

}  // namespace mpexec::sandbox
