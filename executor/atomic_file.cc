#include "executor/atomic_file.h"

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <filesystem>

#include <fmt/format.h>

#include "sandbox/nofollow.h"
#include "sandbox/unique_fd.h"

namespace mpexec {

Result<void> writeFileAtomic(const std::string& path, const std::string& content, Survives survives, Follow follow) {
  std::filesystem::path p(path);
  std::string parent = p.parent_path().string();
  std::string name = p.filename().string();
  if (name.empty()) return Error{"write", EISDIR, path};
  UniqueFd dir;
  if (follow == Follow::NoSymlinks) {
    auto made = sandbox::makeDirsNoFollow(std::filesystem::absolute(p).parent_path().string(), 0755);
    if (!made) return made.error();
    dir = std::move(*made);
  } else {
    std::error_code ec;
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    dir.reset(open(parent.empty() ? "." : parent.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!dir) return sysError("open", parent);
  }
  // A name nobody can guess ahead, created anew: whoever may write the directory cannot have put a
  // symlink or a file of theirs there for us to write through.
  uint64_t nonce = 0;
  if (getrandom(&nonce, sizeof nonce, GRND_NONBLOCK) != ssize_t(sizeof nonce)) nonce = uint64_t(getpid()) << 20;
  std::string tmp = fmt::format(".{}.tmp.{:016x}", name, nonce);
  int fd = openat(dir.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return sysError("open", path + " (temporary file " + tmp + ")");
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += size_t(n);
  }
  bool ok = done == content.size() && (survives == Survives::ProcessCrash || fsync(fd) == 0);
  Error e = sysError("write", path);
  close(fd);
  if (!ok) {
    unlinkat(dir.get(), tmp.c_str(), 0);
    return e;
  }
  if (renameat(dir.get(), tmp.c_str(), dir.get(), name.c_str()) < 0) {
    e = sysError("rename", path);
    unlinkat(dir.get(), tmp.c_str(), 0);
    return e;
  }
  return {};
}

}  // namespace mpexec
