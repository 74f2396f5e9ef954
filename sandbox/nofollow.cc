#include "sandbox/nofollow.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <vector>

namespace mpexec::sandbox {
namespace {

// struct open_how and its flags (linux/openat2.h), spelled out for older headers.
struct OpenHow {
  uint64_t flags, mode, resolve;
};
constexpr uint64_t kResolveNoMagiclinks = 0x02, kResolveNoSymlinks = 0x04, kResolveBeneath = 0x08;
#ifndef SYS_openat2
#define SYS_openat2 437
#endif

/// The components of the absolute `path`; false when it is relative or has a "..".
bool components(const std::string& path, std::vector<std::string>& out) {
  if (path.empty() || path[0] != '/') return false;
  for (size_t pos = 1; pos <= path.size();) {
    size_t end = path.find('/', pos);
    if (end == std::string::npos) end = path.size();
    std::string part = path.substr(pos, end - pos);
    pos = end + 1;
    if (part == "..") return false;
    if (!part.empty() && part != ".") out.push_back(std::move(part));
  }
  return true;
}

}  // namespace

Result<UniqueFd> openNoFollow(const std::string& path, int flags) {
  OpenHow how{uint64_t(flags | O_CLOEXEC), 0, kResolveNoSymlinks | kResolveNoMagiclinks};
  UniqueFd fd(int(syscall(SYS_openat2, AT_FDCWD, path.c_str(), &how, sizeof how)));
  if (fd) return fd;
  if (errno != ENOSYS) return sysError("open", path);
  std::vector<std::string> parts;
  if (!components(path, parts)) {
    errno = EINVAL;
    return sysError("open", path);
  }
  UniqueFd cur(open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  for (size_t i = 0; cur && i < parts.size(); ++i) {
    bool last = i + 1 == parts.size();
    cur.reset(openat(cur.get(), parts[i].c_str(), (last ? flags : O_PATH | O_DIRECTORY) | O_NOFOLLOW | O_CLOEXEC));
    struct stat st;
    // O_PATH | O_NOFOLLOW opens a symlink itself rather than failing.
    if (cur && last && (flags & O_PATH) && fstat(cur.get(), &st) == 0 && S_ISLNK(st.st_mode)) {
      errno = ELOOP;
      return sysError("open", path);
    }
  }
  if (!cur) return sysError("open", path);
  return cur;
}

Result<UniqueFd> openBeneathNoFollow(int dir, const std::string& rel, int flags) {
  OpenHow how{uint64_t(flags | O_CLOEXEC), 0, kResolveNoSymlinks | kResolveNoMagiclinks | kResolveBeneath};
  UniqueFd fd(int(syscall(SYS_openat2, dir, rel.c_str(), &how, sizeof how)));
  if (!fd) return sysError("open", rel);
  return fd;
}

Result<UniqueFd> makeDirsNoFollow(const std::string& path, mode_t mode) {
  std::vector<std::string> parts;
  if (!components(path, parts)) {
    errno = EINVAL;
    return sysError("mkdir", path);
  }
  UniqueFd cur(open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!cur) return sysError("open", "/");
  for (const std::string& part : parts) {
    UniqueFd next(openat(cur.get(), part.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next && errno == ENOENT) {
      if (mkdirat(cur.get(), part.c_str(), mode) != 0 && errno != EEXIST) return sysError("mkdir", path);
      next.reset(openat(cur.get(), part.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    }
    if (!next) return sysError("open", path);  // ENOTDIR also covers a symlink here
    cur = std::move(next);
  }
  return cur;
}

}  // namespace mpexec::sandbox
