#include "sandbox/context.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstring>
#include <fstream>
#include <utility>

#include "sandbox/cgroup.h"
#include "sandbox/seccomp.h"
#include "sandbox/unique_fd.h"

namespace mpexec::sandbox {
namespace {

constexpr int kProbeFlags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP;

struct ProbeFailure {
  char step[32];
  int err;
};

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
      ProbeFailure f{};
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
    _exit(0);
  }
  wr.reset();
  return std::pair{pid, std::move(rd)};
}

/// The verdict of a probe started by startProbe(); reaps it.
Result<void> finishProbe(pid_t pid, const UniqueFd& verdict) {
  ProbeFailure f{};
  ssize_t n = read(verdict.get(), &f, sizeof f);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (n == static_cast<ssize_t>(sizeof f)) return Error{f.step, f.err, {}};
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return Error{"namespace probe", ECHILD, "the probe died"};
  return {};
}

Result<void> probe(bool user_namespace) {
  auto started = startProbe(user_namespace);
  if (!started) return started.error();
  return finishProbe(started->first, started->second);
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
Context::~Context() = default;

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
                               std::pair{SeccompProfile::Nested, &ctx->seccomp_nested_}}) {
    auto program = compileSeccomp(profile);
    if (!program) {
      compiled = program.error();
      break;
    }
    *slot = std::make_unique<SeccompProgram>(std::move(*program));
  }

  Result<void> probed = pending.probe_pid_ > 0
                            ? finishProbe(std::exchange(pending.probe_pid_, -1), pending.probe_verdict_)
                            : Result<void>(pending.start_error_);
  if (!pending.user_namespace_) {
    ctx->privileged_ = probed.ok();
    if (!ctx->privileged_) probed = probe(true);
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

bool Context::usesUserNamespace(const Policy& policy) const { return !privileged_ || policy.nested; }

bool Context::cgroupLimitsMemory() const { return limits_memory_; }
bool Context::cgroupLimitsPids() const { return limits_pids_; }

const SeccompProgram* Context::seccompFor(const Policy& policy) const {
  if (!policy.seccomp) return nullptr;
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
  std::string s = privileged_ ? "namespaces (root; user namespace only for nested)" : "namespaces (user namespace)";
  s += ", " + (cgroups_ ? cgroups_->describe() : std::string("no cgroup"));
  if (!cgroupLimitsMemory() || !cgroupLimitsPids()) s += ", rlimits";
  s += ", seccomp";
  return s;
}

}  // namespace mpexec::sandbox
