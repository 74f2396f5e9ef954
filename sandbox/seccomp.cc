#include "sandbox/seccomp.h"

#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <memory>

#include "sandbox/unique_fd.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

namespace mpexec::sandbox {
namespace {

// Calls that change or reach kernel-global state: denied whatever the profile.
constexpr const char* kKernelGlobal[] = {
    "reboot",       "kexec_load",    "kexec_file_load", "init_module",   "finit_module",    "delete_module",
    "swapon",       "swapoff",       "settimeofday",    "clock_settime", "clock_adjtime",   "adjtimex",
    "syslog",       "acct",          "quotactl",        "add_key",       "request_key",     "keyctl",
    "bpf",          "perf_event_open", "userfaultfd",   "open_by_handle_at", "iopl",        "ioperm",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
};

// Namespace and mount calls: denied unless the policy allows nested namespaces.
constexpr const char* kNamespaceCalls[] = {
    "unshare", "setns",   "mount",  "umount2", "pivot_root", "move_mount",
    "open_tree", "fsopen", "fsmount", "fsconfig", "fspick",  "mount_setattr",
};

// Calls whose mode argument (by index) could put a setuid or setgid bit on a file. Numbers where libseccomp
// may not know the name: fchmodat2 is 452 on every architecture (Linux 6.6).
struct ModeCall {
  const char* name;
  int nr;  ///< used when libseccomp does not know the name
  unsigned mode_arg;
  int flags_arg;  ///< >= 0: only with O_CREAT or O_TMPFILE in this argument
};
constexpr ModeCall kModeCalls[] = {
    {"chmod", -1, 1, -1},  {"fchmod", -1, 1, -1},  {"fchmodat", -1, 2, -1}, {"fchmodat2", 452, 2, -1},
    {"creat", -1, 1, -1},  {"mknod", -1, 1, -1},   {"mknodat", -1, 2, -1},  {"open", -1, 2, 1},
    {"openat", -1, 3, 2},
};
constexpr uint64_t kTmpfileBit = 020000000;  // __O_TMPFILE, without the O_DIRECTORY that O_TMPFILE adds
constexpr const char* kXattrWrites[] = {"setxattr", "lsetxattr", "fsetxattr"};
constexpr int kSetxattrat = 463;  // Linux 6.13

// In clone's flags the low byte is the exit signal, so CLONE_NEWTIME (0x80) cannot be asked for there.
constexpr uint64_t kCloneNamespaceFlags[] = {CLONE_NEWNS,  CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
                                             CLONE_NEWUSER, CLONE_NEWPID,   CLONE_NEWNET};

struct FilterDeleter {
  void operator()(void* f) const { seccomp_release(f); }
};
using Filter = std::unique_ptr<void, FilterDeleter>;

Error libError(const std::string& what, int rc) { return Error{"seccomp " + what, -rc, {}}; }

// Resolves by name so that calls missing on this architecture (iopl on arm64) are skipped, not errors.
Result<void> deny(scmp_filter_ctx f, const char* name, int err, std::initializer_list<scmp_arg_cmp> args = {}) {
  int nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR || nr < 0) return {};
  int rc = seccomp_rule_add_array(f, SCMP_ACT_ERRNO(err), nr, args.size(), args.begin());
  if (rc < 0) return libError(std::string("rule ") + name, rc);
  return {};
}

// The kernel reads ioctl's request and socket's domain as 32-bit ints: compare only the low 32 bits, or a
// caller could set high bits to slip past an exact 64-bit match.
scmp_arg_cmp low32(unsigned arg, uint64_t value) {
  return scmp_arg_cmp{arg, SCMP_CMP_MASKED_EQ, 0xffffffffu, value};
}

scmp_arg_cmp hasBits(unsigned arg, uint64_t bits) { return scmp_arg_cmp{arg, SCMP_CMP_MASKED_EQ, bits, bits}; }

// A rule by name, or by number where libseccomp does not know the name (an older libseccomp than kernel).
Result<void> denyNr(scmp_filter_ctx f, const char* name, int fallback_nr, int err,
                    std::initializer_list<scmp_arg_cmp> args) {
  int nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR || nr < 0) nr = fallback_nr;
  if (nr < 0) return {};
  int rc = seccomp_rule_add_array(f, SCMP_ACT_ERRNO(err), nr, args.size(), args.begin());
  if (rc < 0) return libError(std::string("rule ") + name, rc);
  return {};
}

// What no unit may do, whatever its policy (seccomp.h): leave a setuid or setgid file behind, set the limits
// of its init.
Result<void> denyGuarded(scmp_filter_ctx f) {
  for (const ModeCall& c : kModeCalls) {
    for (uint64_t bit : {uint64_t(S_ISUID), uint64_t(S_ISGID)}) {
      if (c.flags_arg < 0) {
        MPEXEC_TRY(denyNr(f, c.name, c.nr, EPERM, {hasBits(c.mode_arg, bit)}));
        continue;
      }
      for (uint64_t creating : {uint64_t(O_CREAT), kTmpfileBit})
        MPEXEC_TRY(denyNr(f, c.name, c.nr, EPERM, {hasBits(unsigned(c.flags_arg), creating), hasBits(c.mode_arg, bit)}));
    }
  }
  MPEXEC_TRY(denyNr(f, "openat2", 437, ENOSYS, {}));
  MPEXEC_TRY(denyNr(f, "prlimit64", -1, EPERM,
                    {scmp_arg_cmp{0, SCMP_CMP_MASKED_EQ, 0xffffffffu, 1}, scmp_arg_cmp{2, SCMP_CMP_NE, 0, 0}}));
  return {};
}

// What would let a unit name its namespaces or its init (docs/sandbox.md, "What a unit can tell"): the ids the
// kernel gives every namespace from one counter (NS_GET_ID and the other nsfs ioctls that return an id or
// walk the mount namespaces, SO_NETNS_COOKIE), file handles (an nsfs handle holds the namespace's id, a pidfs
// handle the process's 64-bit id), and a pidfd of pid 1, whose pidfs inode is that id. The nsfs ioctls are
// matched by type and number, not by their size and direction bits (the kernel matches its extensible ones,
// NS_MNT_GET_INFO and the like, by number), and every number nsfs does not use today is refused too, so a
// newer kernel's next id ioctl is refused before it exists. Allowed: NS_GET_USERNS, NS_GET_PARENT,
// NS_GET_NSTYPE, NS_GET_OWNER_UID (1-4) and the pid translations (6-9), which name nothing.
constexpr uint64_t kNsfsType = 0xb700;
constexpr uint64_t kNsfsRefusedNumbers[] = {0x00, 0x05, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};
constexpr int kSoNetnsCookie = 71;  // Linux 5.14

Result<void> denyIdentity(scmp_filter_ctx f) {
  for (uint64_t nr : kNsfsRefusedNumbers)
    MPEXEC_TRY(deny(f, "ioctl", EPERM, {scmp_arg_cmp{1, SCMP_CMP_MASKED_EQ, 0xffff, kNsfsType | nr}}));
  for (uint64_t high = 0x10; high <= 0xf0; high += 0x10)
    MPEXEC_TRY(deny(f, "ioctl", EPERM, {scmp_arg_cmp{1, SCMP_CMP_MASKED_EQ, 0xfff0, kNsfsType | high}}));
  MPEXEC_TRY(deny(f, "getsockopt", EPERM, {low32(1, SOL_SOCKET), low32(2, kSoNetnsCookie)}));
  // EOPNOTSUPP, as for a filesystem that gives no handles: callers (systemd's mount-id lookup) fall back.
  MPEXEC_TRY(deny(f, "name_to_handle_at", EOPNOTSUPP));
  return denyNr(f, "pidfd_open", 434, EPERM, {low32(0, 1)});
}

Result<SeccompProgram> exportProgram(scmp_filter_ctx f) {
  UniqueFd mem(memfd_create("mpexec-seccomp", MFD_CLOEXEC));
  if (!mem) return sysError("memfd_create");
  if (int rc = seccomp_export_bpf(f, mem.get()); rc < 0) return libError("export", rc);
  off_t size = lseek(mem.get(), 0, SEEK_END);
  if (size <= 0 || size % sizeof(sock_filter) != 0) return Error{"seccomp export", EINVAL, "bad program size"};
  SeccompProgram program;
  program.insns.resize(size / sizeof(sock_filter));
  if (pread(mem.get(), program.insns.data(), size, 0) != size) return sysError("pread", "seccomp program");
  return program;
}

}  // namespace

Result<SeccompProgram> compileSeccomp(SeccompProfile profile) {
  Filter f(seccomp_init(SCMP_ACT_ALLOW));
  if (!f) return Error{"seccomp_init", ENOMEM, {}};
  // We set no_new_privs ourselves, before dropping capabilities; a foreign ABI (i386, x32) cannot be
  // filtered by syscall number, so it ends the process instead of bypassing the policy.
  if (int rc = seccomp_attr_set(f.get(), SCMP_FLTATR_CTL_NNP, 0); rc < 0) return libError("attr nnp", rc);
  if (int rc = seccomp_attr_set(f.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS); rc < 0)
    return libError("attr badarch", rc);
  // The syscall numbers as a binary tree rather than one chain: on attach, the kernel runs the filter once
  // per syscall number to find the ones it always allows (its action cache), so the path's length is paid
  // ~450 times per command. Attaching the default filter took 71 us with the chain and 41 us with the tree
  // (a one-instruction filter: 18 us).
  if (int rc = seccomp_attr_set(f.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2); rc < 0) return libError("attr optimize", rc);

  MPEXEC_TRY(denyGuarded(f.get()));
  if (profile == SeccompProfile::Nested) {
    for (const char* name : kXattrWrites) MPEXEC_TRY(deny(f.get(), name, EPERM));
    MPEXEC_TRY(denyNr(f.get(), "setxattrat", kSetxattrat, EPERM, {}));
  }
  if (profile == SeccompProfile::Guard) return exportProgram(f.get());
  for (const char* name : kKernelGlobal) MPEXEC_TRY(deny(f.get(), name, EPERM));
  MPEXEC_TRY(deny(f.get(), "clone3", ENOSYS));
  // Legacy AIO contexts count against one host-wide limit (fs.aio-max-nr), not a per-user one: sixteen
  // io_setup calls would leave the host none. ENOSYS, as for a kernel without AIO, so that libaio's users
  // fall back to threads where they can; the other io_* calls need a context.
  MPEXEC_TRY(deny(f.get(), "io_setup", ENOSYS));
  MPEXEC_TRY(deny(f.get(), "ioctl", EPERM, {low32(1, TIOCSTI)}));
  MPEXEC_TRY(deny(f.get(), "ioctl", EPERM, {low32(1, TIOCLINUX)}));
  MPEXEC_TRY(deny(f.get(), "socket", EPERM, {low32(0, AF_VSOCK)}));
  MPEXEC_TRY(deny(f.get(), "socket", EPERM, {low32(0, AF_ALG)}));
  // The kernel broadcasts the host's device events to the uevent sockets of every network namespace that
  // its initial user namespace owns, a unit's new one included: what is plugged into or changes on the host.
  MPEXEC_TRY(deny(f.get(), "socket", EPERM, {low32(0, AF_NETLINK), low32(2, NETLINK_KOBJECT_UEVENT)}));
  MPEXEC_TRY(denyIdentity(f.get()));
  if (profile == SeccompProfile::Default) {
    for (const char* name : kNamespaceCalls) MPEXEC_TRY(deny(f.get(), name, EPERM));
    for (uint64_t flag : kCloneNamespaceFlags)
      MPEXEC_TRY(deny(f.get(), "clone", EPERM, {scmp_arg_cmp{0, SCMP_CMP_MASKED_EQ, flag, flag}}));
  }

  return exportProgram(f.get());
}

Result<void> loadSeccomp(const SeccompProgram& program) {
  sock_fprog prog{};
  prog.len = static_cast<unsigned short>(program.insns.size());
  prog.filter = const_cast<sock_filter*>(program.insns.data());
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) return sysError("seccomp");
  return {};
}

}  // namespace mpexec::sandbox
