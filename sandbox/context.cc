#include "sandbox/context.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string_view>
#include <utility>

#include "sandbox/cgroup.h"
#include "sandbox/idmap.h"
#include "sandbox/seccomp.h"
#include "sandbox/unique_fd.h"

namespace mpexec::sandbox {
namespace {

constexpr int kProbeFlags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP;

struct ProbeVerdict {
  char step[32];  ///< the failing step; empty on success
  int err;
  int idmapped;  ///< root: an idmapped copy of the root filesystem could be made
};

// struct mount_attr (linux/mount.h), as mount.cc spells it.
struct MountAttr {
  uint64_t attr_set, attr_clr, propagation, userns_fd;
};
constexpr uint64_t kAttrIdmap = 0x00100000;
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
constexpr unsigned long kNsGetUserns = 0xb701;  // NS_GET_USERNS, _IO(0xb7, 0x1) in linux/nsfs.h
#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif

// Whether this process's mount and network namespaces belong to its own user namespace (always outside
// every user namespace). Root of a user namespace made without them (`unshare -r`) may unshare, but could
// neither enter its network namespace again after making one ahead nor copy a host path out of its mount
// namespace (both need CAP_SYS_ADMIN where they were made): its units are set up as a user's. The kernel
// refuses NS_GET_USERNS (EPERM) for an owner outside our user namespace; a kernel without the ioctl (before
// 4.9) is taken at its word that we are root.
bool ownsItsNamespaces() {
  struct stat own;
  if (stat("/proc/self/ns/user", &own) != 0) return true;
  for (const char* ns : {"/proc/self/ns/mnt", "/proc/self/ns/net"}) {
    UniqueFd fd(open(ns, O_RDONLY | O_CLOEXEC));
    if (!fd) continue;
    UniqueFd owner(ioctl(fd.get(), kNsGetUserns));
    if (!owner) {
      if (errno == EPERM) return false;
      continue;
    }
    struct stat st;
    if (fstat(owner.get(), &st) == 0 && (st.st_ino != own.st_ino || st.st_dev != own.st_dev)) return false;
  }
  return true;
}

// Whether an idmapped copy of "/" can be made here: what a unit's view of the host is built from (Linux
// 5.12, a root filesystem that allows it, CAP_SYS_ADMIN over it). In the probe child, as root.
bool canIdmapRoot() {
  auto stranger = strangerView();
  if (!stranger) return false;
  UniqueFd tree(int(syscall(SYS_open_tree, AT_FDCWD, "/", 1 /* OPEN_TREE_CLONE */ | O_CLOEXEC)));
  MountAttr attr{kAttrIdmap, 0, 0, uint64_t(stranger->get())};
  return tree && syscall(SYS_mount_setattr, tree.get(), "", AT_EMPTY_PATH, &attr, sizeof attr) == 0;
}

// Tries, in a throw-away child, what every unit will do: unshare the namespaces, map ids when a user
// namespace is needed, and mount a tmpfs. Some hosts let unshare succeed and refuse the mount (an LSM
// restricting unprivileged user namespaces), so the mount is part of the probe. Returns at once with the
// child's pid and the read end of its pipe; the caller does other work while the child runs (a network
// namespace alone takes about a millisecond).
Result<std::pair<pid_t, UniqueFd>> startProbe(bool user_namespace) {
  std::string uid_map = std::to_string(geteuid()) + " " + std::to_string(geteuid()) + " 1\n";
  std::string gid_map = std::to_string(getegid()) + " " + std::to_string(getegid()) + " 1\n";
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return sysError("pipe2");
  UniqueFd rd(p[0]), wr(p[1]);
  pid_t pid = fork();
  if (pid < 0) return sysError("fork", "namespace probe");
  if (pid == 0) {
    auto fail = [&](const char* step) {
      ProbeVerdict f{};
      std::strncpy(f.step, step, sizeof f.step - 1);
      f.err = errno;
      (void)!write(wr.get(), &f, sizeof f);
      _exit(1);
    };
    auto put = [&](const char* path, const std::string& s) {
      int fd = open(path, O_WRONLY | O_CLOEXEC);
      if (fd < 0 || write(fd, s.data(), s.size()) != static_cast<ssize_t>(s.size())) fail(path);
      close(fd);
    };
    if (unshare(kProbeFlags | (user_namespace ? CLONE_NEWUSER : 0)) != 0) fail("unshare");
    if (user_namespace) {
      put("/proc/self/setgroups", "deny\n");
      put("/proc/self/uid_map", uid_map);
      put("/proc/self/gid_map", gid_map);
    }
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) fail("mount");
    if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=4k") != 0) fail("mount tmpfs");
    ProbeVerdict ok{};
    ok.idmapped = !user_namespace && canIdmapRoot();
    (void)!write(wr.get(), &ok, sizeof ok);
    _exit(0);
  }
  wr.reset();
  return std::pair{pid, std::move(rd)};
}

/// The verdict of a probe started by startProbe(); reaps it. `idmapped` says what the probe found. With
/// `exiting`, a probe that gave a verdict of success is not waited for (all it does after is exit, and
/// tearing down its namespaces can take it milliseconds): its pid goes there, for the caller to reap.
Result<void> finishProbe(pid_t pid, const UniqueFd& verdict, bool* idmapped = nullptr, pid_t* exiting = nullptr) {
  ProbeVerdict f{};
  ssize_t n = read(verdict.get(), &f, sizeof f);
  if (exiting && n == static_cast<ssize_t>(sizeof f) && f.step[0] == '\0') {
    *exiting = pid;
    if (idmapped) *idmapped = f.idmapped != 0;
    return {};
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (n == static_cast<ssize_t>(sizeof f) && f.step[0] != '\0') return Error{f.step, f.err, {}};
  if (n != static_cast<ssize_t>(sizeof f) || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return Error{"namespace probe", ECHILD, "the probe died"};
  if (idmapped) *idmapped = f.idmapped != 0;
  return {};
}

Result<void> probe(bool user_namespace) {
  auto started = startProbe(user_namespace);
  if (!started) return started.error();
  return finishProbe(started->first, started->second);
}

// Unit ids: blocks of kUnitIdsPerRun host ids from kUnitIdFirst, in the range systemd leaves unused
// (1879048192-2147352575, docs/UIDS-GIDS.md there), one block per mpexec run of the host.
constexpr uint32_t kUnitIdFirst = 0x78000000;  // 2013265920
constexpr uint32_t kUnitIdsPerRun = 65536;
constexpr uint32_t kUnitIdBlocks = 256;

// Whether [first, first + count) are ids of our user namespace (the "inside" column of `map`).
bool idsMapped(const char* map, uint64_t first, uint64_t count) {
  std::ifstream in(map);
  for (uint64_t inside, outside, length; in >> inside >> outside >> length;)
    if (first >= inside && first + count <= inside + length) return true;
  return false;
}

// A block of unit ids no other mpexec of this host holds: a lock file per block in /run/mpexec-ids
// (root's, 0700), locked with flock for the run (the kernel drops it if mpexec dies). Starts at a random
// block: mpexecs that cannot see each other's /run (containers) rarely meet. Without /run, the random
// block unlocked.
uid_t pickUnitIdBlock(UniqueFd& lock) {
  uint32_t start = 0;
  if (getrandom(&start, sizeof start, GRND_NONBLOCK) != ssize_t(sizeof start)) start = uint32_t(getpid());
  start %= kUnitIdBlocks;
  auto block = [](uint32_t n) { return uid_t(kUnitIdFirst + (n % kUnitIdBlocks) * kUnitIdsPerRun); };
  mkdir("/run/mpexec-ids", 0700);
  UniqueFd dir(open("/run/mpexec-ids", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  struct stat st;
  if (!dir || fstat(dir.get(), &st) != 0 || st.st_uid != geteuid() || (st.st_mode & 022)) return block(start);
  for (uint32_t i = 0; i < kUnitIdBlocks; ++i) {
    uint32_t n = (start + i) % kUnitIdBlocks;
    UniqueFd fd(openat(dir.get(), std::to_string(n).c_str(), O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (fd && flock(fd.get(), LOCK_EX | LOCK_NB) == 0) {
      lock = std::move(fd);
      return block(n);
    }
  }
  return block(start);
}

bool hasEffectiveCap(int cap) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("CapEff:", 0) == 0) return (std::stoull(line.substr(7), nullptr, 16) >> cap) & 1;
  return false;
}

// Leaving SCHED_IDLE for SCHED_OTHER at nice 0 needs CAP_SYS_NICE or an RLIMIT_NICE of 20.
bool niceLimitAllowsZero() {
  rlimit r{};
  return getrlimit(RLIMIT_NICE, &r) == 0 && r.rlim_cur >= 20;
}

int readLastCap() {
  std::ifstream in("/proc/sys/kernel/cap_last_cap");
  int n = 40;
  in >> n;
  return n;
}

}  // namespace

Context::Context(Isolation isolation) : isolation_(isolation) {}
Context::~Context() {
  if (probe_exiting_ > 0)
    while (waitpid(probe_exiting_, nullptr, 0) < 0 && errno == EINTR) {
    }
}

Result<std::unique_ptr<Context>> Context::create(Isolation isolation) { return finish(begin(isolation)); }

Context::Pending::Pending(Pending&& other) noexcept
    : isolation_(other.isolation_),
      user_namespace_(other.user_namespace_),
      probe_pid_(std::exchange(other.probe_pid_, -1)),
      probe_verdict_(std::move(other.probe_verdict_)),
      start_error_(std::move(other.start_error_)) {}

Context::Pending::~Pending() {
  if (probe_pid_ > 0) (void)finishProbe(probe_pid_, probe_verdict_);
}

Context::Pending Context::begin(Isolation isolation) {
  Pending p(isolation);
  if (isolation == Isolation::None) return p;
  // Root keeps its own user namespace (DESIGN: CLONE_NEWUSER only where needed or asked); everyone else,
  // and a root without CAP_SYS_ADMIN, needs one.
  p.user_namespace_ = geteuid() != 0;
  auto started = startProbe(p.user_namespace_);
  if (started) {
    p.probe_pid_ = started->first;
    p.probe_verdict_ = std::move(started->second);
  } else {
    p.start_error_ = started.error();
  }
  return p;
}

Result<std::unique_ptr<Context>> Context::finish(Pending pending) {
  std::unique_ptr<Context> ctx(new Context(pending.isolation_));
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) ctx->exe_.assign(exe, size_t(n));
  if (pending.isolation_ == Isolation::None) return ctx;

  ctx->uid_ = geteuid();
  ctx->gid_ = getegid();
  ctx->last_cap_ = readLastCap();

  // While the probe runs (if begin() was not long ago).
  ctx->cgroups_ = CgroupRoot::detect();
  ctx->limits_memory_ = ctx->cgroups_ && ctx->cgroups_->limitsMemory();
  ctx->limits_pids_ = ctx->cgroups_ && ctx->cgroups_->limitsPids();
  Result<void> compiled;
  for (auto [profile, slot] : {std::pair{SeccompProfile::Default, &ctx->seccomp_default_},
                               std::pair{SeccompProfile::Nested, &ctx->seccomp_nested_},
                               std::pair{SeccompProfile::Guard, &ctx->seccomp_guard_}}) {
    auto program = compileSeccomp(profile);
    if (!program) {
      compiled = program.error();
      break;
    }
    *slot = std::make_unique<SeccompProgram>(std::move(*program));
  }

  long abi = syscall(SYS_landlock_create_ruleset, nullptr, 0, 1 /* LANDLOCK_CREATE_RULESET_VERSION */);
  ctx->landlock_abi_ = abi > 0 ? int(abi) : 0;
  // As on a kernel without Landlock, so that the fallback can be run (and tested) on one that has it.
  if (const char* off = getenv("MPEXEC_NO_LANDLOCK"); off && *off && std::string_view(off) != "0") {
    ctx->landlock_abi_ = 0;
    ctx->landlock_off_ = true;
  }
  Result<void> probed = pending.probe_pid_ > 0
                            ? finishProbe(std::exchange(pending.probe_pid_, -1), pending.probe_verdict_,
                                          &ctx->idmapped_mounts_, &ctx->probe_exiting_)
                            : Result<void>(pending.start_error_);
  if (!pending.user_namespace_) {
    ctx->privileged_ = probed.ok() && ownsItsNamespaces();
    if (!ctx->privileged_) probed = probe(true);
  }
  // Units of their own only where what they leave can still be the invoking user's (idmapped mounts).
  if (ctx->privileged_ && ctx->idmapped_mounts_ &&
      idsMapped("/proc/self/uid_map", kUnitIdFirst, uint64_t(kUnitIdBlocks) * kUnitIdsPerRun) &&
      idsMapped("/proc/self/gid_map", kUnitIdFirst, uint64_t(kUnitIdBlocks) * kUnitIdsPerRun)) {
    ctx->unit_id_base_ = pickUnitIdBlock(ctx->unit_id_lock_);
    ctx->unit_ids_ = kUnitIdsPerRun;
  }
  ctx->idle_ahead_ = (ctx->privileged_ && hasEffectiveCap(CAP_SYS_NICE)) || niceLimitAllowsZero();
  if (!probed) {
    const Error& e = probed.error();
    return Error{"sandbox", e.err,
                 "cannot create Linux namespaces here (" + e.call +
                     " failed); use --no-sandbox to run units as plain process groups"};
  }
  if (!compiled) return compiled.error();
  return ctx;
}

bool Context::usesUserNamespace(const Policy& policy) const {
  return !privileged_ || (policy.nested && unit_ids_ == 0);
}

bool Context::cgroupLimitsMemory() const { return limits_memory_; }
bool Context::cgroupLimitsPids() const { return limits_pids_; }

const SeccompProgram* Context::seccompFor(const Policy& policy) const {
  if (!policy.seccomp) return seccomp_guard_.get();
  return policy.nested ? seccomp_nested_.get() : seccomp_default_.get();
}

std::vector<std::string> Context::limits() const {
  if (isolation_ == Isolation::None) return {};
  std::vector<std::string> out;
  if (cgroupLimitsMemory()) out.push_back("memory");
  if (cgroupLimitsPids()) out.push_back("pids");
  if (!cgroupLimitsMemory() || !cgroupLimitsPids()) out.push_back("rlimit");
  return out;
}

std::string Context::describe() const {
  if (isolation_ == Isolation::None) return "no sandbox (--no-sandbox): plain process groups";
  std::string s;
  if (!privileged_) {
    s = "namespaces (user namespace: units run as the invoking user)";
  } else if (unit_ids_ > 0) {
    s = "namespaces (root; each unit a uid of its own in a user namespace of its own), idmapped mounts";
  } else {
    s = std::string("namespaces (root; units run as uid 0 without capabilities: ") +
        (idmapped_mounts_ ? "no spare uids in this user namespace" : "no idmapped mounts here") + ")";
  }
  s += ", " + (cgroups_ ? cgroups_->describe() : std::string("no cgroup"));
  if (!cgroupLimitsMemory() || !cgroupLimitsPids()) s += ", rlimits";
  s += ", seccomp";
  s += landlock_abi_ >= 6 ? ", landlock (ABI " + std::to_string(landlock_abi_) + ": abstract sockets, signals)"
                          : ", no landlock scoping (" +
                                (landlock_off_ ? std::string("MPEXEC_NO_LANDLOCK=1")
                                 : landlock_abi_ ? "ABI " + std::to_string(landlock_abi_) + " < 6"
                                                 : std::string("not in this kernel")) +
                                ")";
  return s;
}

}  // namespace mpexec::sandbox
