#include "sandbox/mount_calls.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <sstream>

#include "sandbox/nofollow.h"

namespace mpexec::sandbox {

namespace {

bool searchable(const struct stat& st, const Searcher& as) {
  if (st.st_uid == as.uid) return st.st_mode & S_IXUSR;
  if (st.st_gid == as.gid) return st.st_mode & S_IXGRP;
  return st.st_mode & S_IXOTH;
}

// mountinfo escapes blanks and backslashes as \ooo.
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 3), nullptr, 8));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

unsigned long preservedFlags(const std::string& path) {
  struct statvfs sv;
  if (statvfs(path.c_str(), &sv) != 0) return 0;
  unsigned long f = 0;
  if (sv.f_flag & ST_NOSUID) f |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV) f |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
  if (sv.f_flag & ST_NOATIME) f |= MS_NOATIME;
  if (sv.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
  if (sv.f_flag & ST_RELATIME) f |= MS_RELATIME;
  return f;
}

// Before mount_setattr (Linux 5.12): remount each mount at or below `prefix`, keeping the flags that a user
// namespace locks (nosuid, nodev, noexec, atime), since dropping any of them is refused.
Result<void> remountByPath(const std::string& prefix, bool recursive, unsigned long flags_set) {
  std::vector<std::string> points{prefix};
  if (recursive) {
    for (const HostMount& m : readMountinfo())
      if (m.point.size() > prefix.size() && within(m.point, prefix)) points.push_back(m.point);
  }
  for (const std::string& p : points) {
    unsigned long flags = MS_BIND | MS_REMOUNT | flags_set | preservedFlags(p);
    if (mount(nullptr, p.c_str(), nullptr, flags, nullptr) != 0 && errno != ENOENT && errno != EACCES)
      return mountError(p, "remount");
  }
  return {};
}

}  // namespace

std::string fdPath(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

Error mountError(const std::string& what, const std::string& detail) { return sysError("mount " + what, detail); }

void addNote(std::string* note, const std::string& phrase) {
  if (!note) return;
  if (!note->empty()) *note += "; ";
  *note += phrase;
}

Result<UniqueFd> openTarget(int root, const std::string& rel, Kind kind, Create create, const std::string& what,
                            const Searcher* as) {
  // Split by hand: a stringstream would initialise the C++ locale in every init (the spawner, which it is
  // cloned from, never uses one), ~30 page faults and a few dozen allocations per unit.
  std::vector<std::string> parts;
  for (size_t pos = 0; pos <= rel.size();) {
    size_t end = rel.find('/', pos);
    if (end == std::string::npos) end = rel.size();
    std::string part = rel.substr(pos, end - pos);
    pos = end + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") return Error{"mount " + what, EINVAL, "'..' in target " + rel};
    parts.push_back(std::move(part));
  }
  // The whole way in one call where it is there: openat2 refuses a symlink on any component, as the walk
  // below does one O_NOFOLLOW step at a time (a path walk of k components costs 2k+1 calls, 3k with a
  // Searcher, each an exit to the hypervisor on a virtual machine). A Searcher then looks at each directory
  // on the way with one fstatat. The walk remains for what is missing and must be made, for a directory the
  // Searcher's uid cannot search (covered there), for a kernel or a seccomp filter without openat2, and to
  // say what went wrong. A missing target that is not to be made is missing for the walk too.
  if (!parts.empty()) {
    auto fd = openBeneathNoFollow(root, rel, kind == Kind::Dir ? O_PATH | O_DIRECTORY : O_PATH);
    struct stat st;
    bool found = fd && (kind == Kind::Dir || (fstat(fd->get(), &st) == 0 && !S_ISDIR(st.st_mode)));
    // What a lookup of a prefix finds is only told, never opened or mounted on: a directory swapped
    // meanwhile can at worst leave the way uncovered, which hides the bind from the unit, nothing else.
    std::string prefix;
    for (size_t i = 0; found && as && i + 1 < parts.size(); ++i) {
      prefix += (i ? "/" : "") + parts[i];
      found = fstatat(root, prefix.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
              searchable(st, *as);
    }
    if (found) return fd;
    if (!fd && fd.error().err == ENOENT && create == Create::No) {
      errno = ENOENT;
      return mountError(what, "open target " + rel);
    }
  }
  UniqueFd cur(fcntl(root, F_DUPFD_CLOEXEC, 3));
  if (!cur) return sysError("fcntl", "F_DUPFD_CLOEXEC");
  // Below a directory this walk made, nothing is there yet: what follows is made without a look first.
  bool made_here = false;
  for (size_t i = 0; i < parts.size(); ++i) {
    const char* name = parts[i].c_str();
    bool last = i + 1 == parts.size();
    if (last && kind == Kind::File) {
      UniqueFd fd;
      if (!made_here) fd.reset(openat(cur.get(), name, O_PATH | O_NOFOLLOW | O_CLOEXEC));
      if (!fd && (made_here || errno == ENOENT) && create == Create::Yes) {
        UniqueFd made(openat(cur.get(), name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644));
        if (!made) return mountError(what, "create " + rel);
        fd.reset(openat(cur.get(), name, O_PATH | O_NOFOLLOW | O_CLOEXEC));
      }
      if (!fd) return mountError(what, "open target " + rel);
      struct stat st;
      if (fstat(fd.get(), &st) != 0) return mountError(what, "stat target " + rel);
      if (S_ISLNK(st.st_mode) || S_ISDIR(st.st_mode)) return Error{"mount " + what, ELOOP, "target " + rel + " is not a file"};
      return fd;
    }
    UniqueFd next;
    if (!made_here) next.reset(openat(cur.get(), name, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC));
    if (!next && (made_here || errno == ENOENT) && create == Create::Yes) {
      made_here = mkdirat(cur.get(), name, 0755) == 0;
      if (!made_here && errno != EEXIST) return mountError(what, "mkdir " + rel);
      next.reset(openat(cur.get(), name, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC));
    }
    if (!next) return mountError(what, "open target " + rel);  // ENOTDIR also covers a symlink here
    struct stat st;
    if (as && !last && fstat(next.get(), &st) == 0 && !searchable(st, *as)) {
      if (mount("tmpfs", fdPath(next.get()).c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755") != 0)
        return mountError(what, "cover a directory the unit cannot search on the way to " + rel);
      std::string covered;
      for (size_t k = 0; k <= i; ++k) covered += (k ? "/" : "") + parts[k];
      as->covered->push_back(covered);
      next.reset(openat(cur.get(), name, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC));
      if (!next) return mountError(what, "open target " + rel);
    }
    cur = std::move(next);
  }
  return cur;
}

// /proc/self/mountinfo: "id parent major:minor root point options [optional...] - type source super".
std::vector<HostMount> readMountinfo() {
  std::vector<HostMount> out;
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    HostMount m;
    std::string parent, dev, root, point, word;
    fields >> m.id >> parent >> dev >> root >> point;
    while (fields >> word && word != "-") {
    }
    fields >> m.type;
    m.point = unescape(point);
    out.push_back(std::move(m));
  }
  return out;
}

bool within(const std::string& path, const std::string& dir) {
  return path.compare(0, dir.size(), dir) == 0 &&
         (path.size() == dir.size() || path[dir.size()] == '/' || dir == "/");
}

Result<void> setAttrs(int fd, bool recursive, uint64_t attrs, const std::string& what) {
  MountAttr attr{attrs, 0, 0, 0};
  unsigned flags = AT_EMPTY_PATH | (recursive ? kAtRecursive : 0);
  if (syscall(SYS_mount_setattr, fd, "", flags, &attr, sizeof attr) == 0) return {};
  if (errno != ENOSYS) return mountError(what, "mount_setattr");
  unsigned long extra = 0;
  if (attrs & kAttrRdonly) extra |= MS_RDONLY;
  if (attrs & kAttrNosuid) extra |= MS_NOSUID;
  if (attrs & kAttrNodev) extra |= MS_NODEV;
  if (attrs & kAttrNoexec) extra |= MS_NOEXEC;
  char target[PATH_MAX];
  ssize_t n = readlink(fdPath(fd).c_str(), target, sizeof target - 1);
  if (n <= 0) return mountError(what, "readlink");
  target[n] = '\0';
  return remountByPath(target, recursive, extra);
}

Result<void> makeReadOnly(int fd, bool recursive, uint64_t extra_attrs, const std::string& what) {
  return setAttrs(fd, recursive, kAttrRdonly | extra_attrs, what);
}

Result<void> bindInto(int root, int source, const std::string& rel, Access access, Create create,
                      const std::string& what, const Searcher* as, uint64_t attrs) {
  struct stat st;
  if (fstat(source, &st) != 0) return mountError(what, "stat source");
  Kind kind = S_ISDIR(st.st_mode) ? Kind::Dir : Kind::File;
  auto target = openTarget(root, rel, kind, create, what, as);
  if (!target) return target.error();
  if (mount(fdPath(source).c_str(), fdPath(target->get()).c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
    return mountError(what, "bind");
  auto top = openTarget(root, rel, kind, Create::No, what);
  if (!top) return top.error();
  return setAttrs(top->get(), true, (access == Access::ReadOnly ? kAttrRdonly : 0) | attrs, what);
}

Result<void> mountFresh(int root, const std::string& rel, const char* type, unsigned long flags, const char* data,
                        const std::string& what) {
  auto target = openTarget(root, rel, Kind::Dir, Create::Yes, what);
  if (!target) return target.error();
  if (mount(type, fdPath(target->get()).c_str(), type, flags, data) != 0) return mountError(what, type);
  return {};
}

Result<UniqueFd> openNoSymlinks(const std::string& path, const std::string& what) {
  auto fd = openNoFollow(path, O_PATH);
  if (fd) return fd;
  int err = fd.error().err;
  errno = err;
  return mountError(what, err == ELOOP || err == ENOTDIR
                              ? "open source " + path + ": a symlink on its path (resolved when the run started)"
                              : "open source " + path);
}

Result<UniqueFd> detachedCopy(int source, Access access, const std::string& what, int idmap, std::string* note) {
  UniqueFd tree(int(syscall(SYS_open_tree, source, "",
                            kOpenTreeClone | kOpenTreeCloexec | kAtRecursive | AT_EMPTY_PATH)));
  if (!tree) return mountError(what, "open_tree");
  MountAttr attr{(access == Access::ReadOnly ? kAttrRdonly : 0) | kAttrNosuid | kAttrNodev, 0, MS_PRIVATE, 0};
  if (syscall(SYS_mount_setattr, tree.get(), "", AT_EMPTY_PATH | kAtRecursive, &attr, sizeof attr) != 0)
    return mountError(what, "mount_setattr");
  if (idmap >= 0) {
    MountAttr id{kAttrIdmap, 0, 0, uint64_t(idmap)};
    if (syscall(SYS_mount_setattr, tree.get(), "", AT_EMPTY_PATH, &id, sizeof id) != 0)
      addNote(note, what + " not idmapped (" + std::string(strerror(errno)) + "): the unit writes it as its own uid");
  }
  return tree;
}

Result<void> attachInto(int root, int tree, const std::string& rel, Create create, const std::string& what,
                        const Searcher* as) {
  struct stat st;
  if (fstat(tree, &st) != 0) return mountError(what, "stat source");
  auto target = openTarget(root, rel, S_ISDIR(st.st_mode) ? Kind::Dir : Kind::File, create, what, as);
  if (!target) return target.error();
  if (syscall(SYS_move_mount, tree, "", target->get(), "", kMoveMountFEmptyPath | kMoveMountTEmptyPath) != 0)
    return mountError(what, "move_mount");
  return {};
}

}  // namespace mpexec::sandbox
