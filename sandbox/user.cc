#include "sandbox/user.h"

#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include <cstdio>
#include <string>

#include "sandbox/caps.h"
#include "sandbox/unique_fd.h"

namespace mpexec::sandbox {
namespace {

constexpr unsigned kNobody = 65534;

Result<void> writeProcFile(pid_t pid, const char* name, const std::string& content) {
  std::string path = "/proc/" + std::to_string(pid) + "/" + name;
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return sysError("open", path);
  if (write(fd.get(), content.data(), content.size()) != static_cast<ssize_t>(content.size()))
    return sysError("write", path);
  return {};
}

}  // namespace

Result<void> writeIdMaps(pid_t pid, const Context& ctx, const Policy& policy) {
  if (ctx.privileged()) {
    // Root (nested, without unit ids of its own) may map every id: the namespace then sees the host's
    // ownership unchanged, setgroups stays allowed, and "nobody" is a per-command switch like without a
    // user namespace.
    MPEXEC_TRY(writeProcFile(pid, "uid_map", "0 0 4294967295\n"));
    MPEXEC_TRY(writeProcFile(pid, "gid_map", "0 0 4294967295\n"));
    return {};
  }
  // An unprivileged writer may map only its own ids, and only after giving up setgroups.
  unsigned inner_uid = policy.user == Identity::Nobody ? kNobody : ctx.uid();
  unsigned inner_gid = policy.user == Identity::Nobody ? kNobody : ctx.gid();
  MPEXEC_TRY(writeProcFile(pid, "setgroups", "deny\n"));
  MPEXEC_TRY(writeProcFile(pid, "uid_map", std::to_string(inner_uid) + " " + std::to_string(ctx.uid()) + " 1\n"));
  MPEXEC_TRY(writeProcFile(pid, "gid_map", std::to_string(inner_gid) + " " + std::to_string(ctx.gid()) + " 1\n"));
  return {};
}

namespace {

/// "<inside> <outside> 1\n" into `buf`, without allocating.
const char* mapLine(char* buf, size_t size, unsigned inside, unsigned outside) {
  char* p = buf + size;
  *--p = '\0';
  *--p = '\n';
  *--p = '1';
  *--p = ' ';
  for (unsigned v = outside;; v /= 10) {
    *--p = char('0' + v % 10);
    if (v < 10) break;
  }
  *--p = ' ';
  for (unsigned v = inside;; v /= 10) {
    *--p = char('0' + v % 10);
    if (v < 10) break;
  }
  return p;
}

bool writeSelf(const char* file, const char* text) {
  int fd = open(file, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  size_t n = strlen(text);
  bool ok = write(fd, text, n) == ssize_t(n);
  close(fd);
  return ok;
}

}  // namespace

Result<void> becomeUnitUser(const Context& ctx, const Policy& policy, uint32_t identity) {
  const unsigned id = unsigned(ctx.unitIdBase() + identity);
  // Raw calls: this thread is a process of its own that shares the init's memory until it execs, and
  // glibc's set*id would act on the init's threads as well.
  if (syscall(SYS_setgroups, 0, nullptr) != 0) return sysError("setgroups");
  if (syscall(SYS_setresgid, id, id, id) != 0) return sysError("setresgid", "the unit's gid");
  if (syscall(SYS_setresuid, id, id, id) != 0) return sysError("setresuid", "the unit's uid");
  // The uid change made us undumpable, which hands /proc/self to root: our own maps could not be written.
  if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) return sysError("prctl", "PR_SET_DUMPABLE");
  if (unshare(CLONE_NEWUSER) != 0) return sysError("unshare", "the command's user namespace");
  const unsigned inside = policy.user == Identity::Nobody ? kNobody : 0;
  char buf[64];
  if (!writeSelf("/proc/self/uid_map", mapLine(buf, sizeof buf, inside, id))) return sysError("write", "uid_map");
  if (!writeSelf("/proc/self/setgroups", "deny\n")) return sysError("write", "setgroups");
  if (!writeSelf("/proc/self/gid_map", mapLine(buf, sizeof buf, inside, id))) return sysError("write", "gid_map");
  // The new namespace gave this process a full bounding set and an empty ambient set.
  return dropCapabilityBounds(ctx.lastCap(), Bounds::Full);
}

Result<void> switchToNobody() {
  if (setgroups(0, nullptr) != 0) return sysError("setgroups");
  if (setresgid(kNobody, kNobody, kNobody) != 0) return sysError("setresgid", "65534");
  if (setresuid(kNobody, kNobody, kNobody) != 0) return sysError("setresuid", "65534");
  return {};
}

}  // namespace mpexec::sandbox
