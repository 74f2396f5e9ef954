#include "executor/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>

namespace mpexec {

Result<void> writeFileAtomic(const std::string& path, const std::string& content, Survives survives) {
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return sysError("open", tmp);
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += size_t(n);
  }
  bool ok = done == content.size() && (survives == Survives::ProcessCrash || fsync(fd) == 0);
  Error e = sysError("write", tmp);
  close(fd);
  if (!ok) {
    unlink(tmp.c_str());
    return e;
  }
  if (rename(tmp.c_str(), path.c_str()) < 0) {
    e = sysError("rename", path);
    unlink(tmp.c_str());
    return e;
  }
  return {};
}

}  // namespace mpexec
