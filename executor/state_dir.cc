#include "executor/state_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "sandbox/unique_fd.h"

namespace mpexec {

namespace {

// A tree deeper than this is not followed down (each level holds an fd): what is below stays, and the
// removal says so.
constexpr int kMaxDepth = 128;

void writeIfAbsent(int dir_fd, const char* name, std::string_view content) {
  UniqueFd fd(openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!fd) return;  // there already (perhaps the user's own), or not writable: the run goes on either way
  (void)!write(fd.get(), content.data(), content.size());
}

/// Opens directory `name` in `dir_fd` without following a symlink; a directory its owner made unreadable
/// (chmod 000 by a test) is given back its owner's permissions first.
UniqueFd openSubdirectory(int dir_fd, const char* name) {
  constexpr int kFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  UniqueFd fd(openat(dir_fd, name, kFlags));
  if (!fd && errno == EACCES) {
    UniqueFd path(openat(dir_fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (path && chmod(fmt::format("/proc/self/fd/{}", path.get()).c_str(), S_IRWXU) == 0) fd.reset(openat(dir_fd, name, kFlags));
  }
  // Entries can only be unlinked from a writable directory.
  if (fd) fchmod(fd.get(), S_IRWXU);
  return fd;
}

std::vector<std::string> entriesOf(int dir_fd) {
  std::vector<std::string> names;
  int dup_fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
  DIR* d = dup_fd >= 0 ? fdopendir(dup_fd) : nullptr;
  if (!d) {
    if (dup_fd >= 0) close(dup_fd);
    return names;
  }
  rewinddir(d);  // the duplicate shares its position with dir_fd, which an earlier listing left at the end
  while (dirent* e = readdir(d))
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) names.emplace_back(e->d_name);
  closedir(d);
  return names;
}

/// Removes everything in the directory open as `fd`; the first problem goes into `problem`.
void emptyDirectory(int fd, const std::string& where, int depth, std::string& problem, const std::atomic<bool>* stop) {
  for (const std::string& name : entriesOf(fd)) {
    if (stop && *stop) {
      if (problem.empty()) problem = where + ": left as it is: the run was interrupted";
      return;
    }
    if (unlinkat(fd, name.c_str(), 0) == 0) continue;  // a file, a symlink (not followed), a socket, ...
    if (errno != EISDIR) {
      if (problem.empty()) problem = fmt::format("{}/{}: {}", where, name, strerror(errno));
      continue;
    }
    if (depth >= kMaxDepth) {
      if (problem.empty()) problem = fmt::format("{}/{}: deeper than {} directories", where, name, kMaxDepth);
      continue;
    }
    UniqueFd sub = openSubdirectory(fd, name.c_str());
    if (!sub) {
      if (problem.empty()) problem = fmt::format("{}/{}: {}", where, name, strerror(errno));
      continue;
    }
    emptyDirectory(sub.get(), where + "/" + name, depth + 1, problem, stop);
    sub.reset();
    if (unlinkat(fd, name.c_str(), AT_REMOVEDIR) != 0 && problem.empty())
      problem = fmt::format("{}/{}: {}", where, name, strerror(errno));
  }
}

bool isRunId(const std::string& name) {
  // YYYYmmdd-HHMMSS-<µs><32 random bits in hex> (before: -<mpexec's pid>, or -<random bits> alone)
  if (name.size() < 17 || name[8] != '-' || name[15] != '-') return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = i > 15 ? isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f') : isdigit(static_cast<unsigned char>(c));
    if (i != 8 && i != 15 && !ok) return false;
  }
  return true;
}

}  // namespace

void markStateDirectory(int state_fd) {
  writeIfAbsent(state_fd, ".gitignore", "# Created by mpexec automatically.\n*\n");
  writeIfAbsent(state_fd, "CACHEDIR.TAG",
                "Signature: 8a477f597d28d172789f06886806bc55\n"
                "# This file is a cache directory tag created by mpexec.\n"
                "# For information about cache directory tags, see:\n"
                "#\thttps://bford.info/cachedir/\n");
}

Result<void> removeTree(int dir_fd, const std::string& name, const std::atomic<bool>* stop) {
  if (unlinkat(dir_fd, name.c_str(), 0) == 0) return {};
  if (errno != EISDIR) return sysError("unlinkat", name);
  UniqueFd fd = openSubdirectory(dir_fd, name.c_str());
  if (!fd) return sysError("open", name);
  std::string problem;
  emptyDirectory(fd.get(), name, 1, problem, stop);
  fd.reset();
  if (!problem.empty()) return Error{"remove", 0, problem};
  if (unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR) != 0) return sysError("rmdir", name);
  return {};
}

PrunedRuns pruneRuns(int runs_fd, size_t keep, const std::string& current, const std::atomic<bool>* stop) {
  PrunedRuns out;
  if (keep == 0) return out;
  std::vector<std::string> runs;
  for (const std::string& name : entriesOf(runs_fd)) {
    struct stat st;
    if (isRunId(name) && fstatat(runs_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
      runs.push_back(name);
  }
  // This run is the newest and counts among the kept whatever its name sorts as.
  runs.erase(std::remove(runs.begin(), runs.end(), current), runs.end());
  std::sort(runs.begin(), runs.end());
  if (runs.size() + 1 <= keep) return out;
  runs.resize(runs.size() + 1 - keep);  // the oldest: the ones to remove
  for (const std::string& name : runs) {
    if (stop && *stop) break;
    UniqueFd fd(openat(runs_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (fd && flock(fd.get(), LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
      ++out.in_use;
      continue;
    }
    fd.reset();
    if (auto removed = removeTree(runs_fd, name, stop); removed.ok()) {
      out.removed.push_back(name);
    } else {
      out.problems.push_back(removed.error().message());
    }
  }
  return out;
}

void holdRunDirectory(int run_fd) { flock(run_fd, LOCK_SH | LOCK_NB); }

}  // namespace mpexec
