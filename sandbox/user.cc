#include "sandbox/user.h"

#include <fcntl.h>
#include <grp.h>
#include <unistd.h>

#include <cstdio>
#include <string>

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
    // Root may map every id: the namespace then sees the host's ownership unchanged, setgroups stays
    // allowed, and "nobody" is a per-command switch like without a user namespace.
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

bool commandSwitchesToNobody(const Context& ctx, const Policy& policy) {
  return policy.user == Identity::Nobody && ctx.privileged();
}

Result<void> switchToNobody() {
  if (setgroups(0, nullptr) != 0) return sysError("setgroups");
  if (setresgid(kNobody, kNobody, kNobody) != 0) return sysError("setresgid", "65534");
  if (setresuid(kNobody, kNobody, kNobody) != 0) return sysError("setresuid", "65534");
  return {};
}

}  // namespace mpexec::sandbox
