#include "sandbox/mount.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "sandbox/nofollow.h"
#include "sandbox/unique_fd.h"

namespace mpexec::sandbox {
namespace {

// struct mount_attr and its flags (linux/mount.h), spelled out: glibc's <sys/mount.h> and <linux/mount.h>
// cannot both be included on every version.
struct MountAttr {
  uint64_t attr_set, attr_clr, propagation, userns_fd;
};
constexpr uint64_t kAttrRdonly = 0x1, kAttrNosuid = 0x2, kAttrNodev = 0x4, kAttrNoexec = 0x8, kAttrIdmap = 0x100000;
constexpr unsigned kAtRecursive = 0x8000;
// open_tree(2) and move_mount(2) flags (linux/mount.h), for the same reason.
constexpr unsigned kOpenTreeClone = 1, kOpenTreeCloexec = O_CLOEXEC;
constexpr unsigned kMoveMountFEmptyPath = 0x4, kMoveMountTEmptyPath = 0x40;
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif

// Where the new root is assembled: the host root is bound over /tmp of the (private) mount namespace, so
// no directory has to be created on the host, and everything below is later made the root by pivot_root.
constexpr const char* kNewRoot = "/tmp";

std::string fdPath(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

Error mountError(const std::string& what, const std::string& detail = {}) { return sysError("mount " + what, detail); }

enum class Kind { Dir, File };
enum class Create { No, Yes };

// Who a unit's processes are, for the way to a bind target: a directory there that this uid could not
// search (a 0700 /root on the way to a project below it) is covered by an empty tmpfs that only shows the
// way, and later made read-only. Covering hides nothing the uid could have seen.
struct Searcher {
  uid_t uid;
  gid_t gid;
  std::vector<std::string>* covered;  ///< relative paths of the directories covered
};

bool searchable(const struct stat& st, const Searcher& as) {
  if (st.st_uid == as.uid) return st.st_mode & S_IXUSR;
  if (st.st_gid == as.gid) return st.st_mode & S_IXGRP;
  return st.st_mode & S_IXOTH;
}

void addNote(std::string* note, const std::string& phrase) {
  if (!note) return;
  if (!note->empty()) *note += "; ";
  *note += phrase;
}

// Opens `rel` below `root` one component at a time with O_NOFOLLOW, so that no symlink, whoever planted it,
// can redirect a mount. Missing components are created when asked (they then live on a tmpfs of ours).
// With `as`, a directory on the way that `as` could not search is covered first (Searcher).
Result<UniqueFd> openTarget(int root, const std::string& rel, Kind kind, Create create, const std::string& what,
                            const Searcher* as = nullptr) {
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
  UniqueFd cur(fcntl(root, F_DUPFD_CLOEXEC, 3));
  if (!cur) return sysError("fcntl", "F_DUPFD_CLOEXEC");
  for (size_t i = 0; i < parts.size(); ++i) {
    const char* name = parts[i].c_str();
    bool last = i + 1 == parts.size();
    if (last && kind == Kind::File) {
      UniqueFd fd(openat(cur.get(), name, O_PATH | O_NOFOLLOW | O_CLOEXEC));
      if (!fd && errno == ENOENT && create == Create::Yes) {
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
    UniqueFd next(openat(cur.get(), name, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC));
    if (!next && errno == ENOENT && create == Create::Yes) {
      if (mkdirat(cur.get(), name, 0755) != 0 && errno != EEXIST) return mountError(what, "mkdir " + rel);
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

struct HostMount {
  int id = 0;
  std::string point;  ///< unescaped
  std::string type;
};

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

// Whether `path` is `dir` or lies below it.
bool within(const std::string& path, const std::string& dir) {
  return path.compare(0, dir.size(), dir) == 0 &&
         (path.size() == dir.size() || path[dir.size()] == '/' || dir == "/");
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

// Sets mount attributes on the mount at `fd` (and every submount when `recursive`).
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

enum class Access { ReadOnly, ReadWrite };

// Binds the already-opened `source` onto `rel` below the new root, recursively: read-only when asked, and
// with `attrs` (nosuid and nodev but for the devices of /dev). The target is opened again after the mount so
// that the flags land on the new mount.
Result<void> bindInto(int root, int source, const std::string& rel, Access access, Create create,
                      const std::string& what, const Searcher* as = nullptr,
                      uint64_t attrs = kAttrNosuid | kAttrNodev) {
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

// Opens the source `path` (O_PATH) without following a symlink anywhere on the way. The executor resolves
// every bind source once, before any unit runs; a symlink met now was planted since, by a unit that may
// write there, and must not redirect a bind.
Result<UniqueFd> openNoSymlinks(const std::string& path, const std::string& what) {
  auto fd = openNoFollow(path, O_PATH);
  if (fd) return fd;
  int err = fd.error().err;
  errno = err;
  return mountError(what, err == ELOOP || err == ENOTDIR
                              ? "open source " + path + ": a symlink on its path (resolved when the run started)"
                              : "open source " + path);
}

std::string relative(const std::string& absolute) {
  size_t i = absolute.find_first_not_of('/');
  return i == std::string::npos ? std::string() : absolute.substr(i);
}

struct Bind {
  UniqueFd source;  ///< an O_PATH fd, or a detached mount tree (open_tree) when `detached`
  std::string target;  // absolute, inside
  Access access;
  std::string what;
  bool detached = false;
  bool owned = false;  ///< the unit's own (the project, writable paths, its output directory)
};

constexpr const char* kDevices[] = {"null", "zero", "full", "random", "urandom", "tty"};
constexpr const char* kProcReadOnly[] = {"sys", "sysrq-trigger", "irq", "bus"};
constexpr const char* kCgroupRoot = "/sys/fs/cgroup";

// What every unit's /dev has in common: a tmpfs with the devices bound from the host, the mount points of
// pts and shm, and the links; then read-only.
Result<void> setupSharedDev(int root, std::vector<Bind>& devices) {
  MPEXEC_TRY(mountFresh(root, "dev", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755", "/dev"));
  for (Bind& d : devices)
    MPEXEC_TRY(bindInto(root, d.source.get(), d.target, d.access, Create::Yes, d.what, nullptr, kAttrNosuid));
  auto dev = openTarget(root, "dev", Kind::Dir, Create::No, "/dev");
  if (!dev) return dev.error();
  // O_PATH fds cannot serve as symlinkat's directory before Linux 5.x on every filesystem: use a real one.
  UniqueFd dir(openat(root, "dev", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir) return mountError("/dev", "open");
  for (const char* name : {"pts", "shm"})
    if (mkdirat(dir.get(), name, 0755) != 0) return mountError("/dev", std::string("mkdir ") + name);
  const std::pair<const char*, const char*> links[] = {{"pts/ptmx", "ptmx"},
                                                       {"/proc/self/fd", "fd"},
                                                       {"/proc/self/fd/0", "stdin"},
                                                       {"/proc/self/fd/1", "stdout"},
                                                       {"/proc/self/fd/2", "stderr"}};
  for (auto [to, name] : links)
    if (symlinkat(to, dir.get(), name) != 0) return mountError("/dev", std::string("symlink ") + name);
  return makeReadOnly(dev->get(), false, kAttrNosuid | kAttrNodev | kAttrNoexec, "/dev");
}

// An empty /sys/fs/cgroup with the mount points of the host's hierarchies, so that a unit sees its own
// cgroups there (bound per unit) and no other's; made read-only.
Result<void> coverCgroups(int root, const std::vector<std::string>& cgroup_mounts) {
  auto target = openTarget(root, relative(kCgroupRoot), Kind::Dir, Create::No, kCgroupRoot);
  if (!target && target.error().err == ENOENT) return {};  // no sysfs here
  if (!target) return target.error();
  if (mount("tmpfs", fdPath(target->get()).c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755") != 0)
    return mountError(kCgroupRoot, "cover with an empty tmpfs");
  for (const std::string& m : cgroup_mounts)
    if (m != kCgroupRoot) MPEXEC_TRY(openTarget(root, relative(m), Kind::Dir, Create::Yes, kCgroupRoot));
  auto top = openTarget(root, relative(kCgroupRoot), Kind::Dir, Create::No, kCgroupRoot);
  if (!top) return top.error();
  return makeReadOnly(top->get(), false, kAttrNosuid | kAttrNodev | kAttrNoexec, kCgroupRoot);
}

// What is the unit's own in /dev: a devpts instance (ptys opened here are not the host's, nor another
// unit's) and a tmpfs shm. Every devpts instance but the host's first draws its ptys from one pool
// (kernel.pty.max less kernel.pty.reserve, 3072 by default), so the unit's takes at most 64 of them: one
// unit cannot leave its neighbours, or a host whose /dev/pts is not the first instance, without a pty.
Result<void> setupOwnDev(int root) {
  MPEXEC_TRY(mountFresh(root, "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
                        "newinstance,ptmxmode=0666,mode=0620,max=64", "/dev/pts"));
  return mountFresh(root, "dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", "/dev/shm");
}

Result<void> setupProc(int root, bool guard_init) {
  // hidepid=2: a command sees only the processes it may trace, so not /proc/1, the init (not dumpable,
  // root's): its start time and CPU times, its children's summed up among them, would tell a unit in a
  // recycled sandbox what ran there before it (docs/sandbox.md, "What a unit can still tell").
  MPEXEC_TRY(mountFresh(root, "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2", "/proc"));
  // /proc/1 is the unit's init. Where a command runs as the uid that owns the init's files (uid 0 of
  // mpexec's user namespace: root without unit ids, or a root of a user namespace), nothing of it may be
  // written, such as oom_score_adj (raised, the OOM killer would take the init before the test that
  // fills the memory). A unit of its own uid is refused by the files' owner already.
  std::vector<const char*> names(std::begin(kProcReadOnly), std::end(kProcReadOnly));
  if (guard_init) names.push_back("1");
  for (const char* name : names) {
    std::string rel = std::string("proc/") + name;
    std::string what = "/" + rel;
    Kind kind = std::string(name) == "sysrq-trigger" ? Kind::File : Kind::Dir;
    auto target = openTarget(root, rel, kind, Create::No, what);
    if (!target) {
      if (target.error().err == ENOENT) continue;  // e.g. no /proc/bus without PCI
      return target.error();
    }
    // Bound onto itself so that it becomes a mount of its own, which can then be made read-only.
    std::string p = fdPath(target->get());
    if (mount(p.c_str(), p.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) return mountError(what, "bind");
    auto top = openTarget(root, rel, kind, Create::No, what);
    if (!top) return top.error();
    MPEXEC_TRY(makeReadOnly(top->get(), true, kAttrNosuid | kAttrNodev | kAttrNoexec, what));
  }
  return {};
}

Result<void> pivotInto(int root) {
  // pivot_root(".", ".") stacks the old root on top of the new one; detaching it leaves only the new root,
  // and needs no directory in the (read-only) new root to park the old one in.
  if (fchdir(root) != 0) return sysError("pivot_root", "fchdir");
  if (syscall(SYS_pivot_root, ".", ".") != 0) return sysError("pivot_root");
  if (umount2(".", MNT_DETACH) != 0) return sysError("pivot_root", "detach the old root");
  if (chdir("/") != 0) return sysError("pivot_root", "chdir /");
  return {};
}

std::vector<Bind> deviceBinds() {
  std::vector<Bind> devices;
  for (const char* name : kDevices) {
    std::string path = std::string("/dev/") + name;
    UniqueFd fd(open(path.c_str(), O_PATH | O_CLOEXEC));
    if (fd) devices.push_back(Bind{std::move(fd), "dev/" + std::string(name), Access::ReadWrite, path});
  }
  return devices;
}

// The host root bound over /tmp of the (private) mount namespace and made read-only, nosuid and nodev with
// every submount. Returns the new root, not yet pivoted into.
Result<UniqueFd> bindHostRoot() {
  if (mount("/", kNewRoot, nullptr, MS_BIND | MS_REC, nullptr) != 0) return mountError("/", "bind the host root");
  UniqueFd root(open(kNewRoot, O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return mountError("/", "open the new root");
  MPEXEC_TRY(makeReadOnly(root.get(), true, kAttrNosuid | kAttrNodev, "/"));
  return root;
}

// Filesystems that hold no socket and no file of anyone's: not worth a word when they cannot be idmapped.
bool pseudoFilesystem(const std::string& type) {
  static const char* const kPseudo[] = {"proc",     "sysfs",    "cgroup",     "cgroup2",   "devpts",    "mqueue",
                                        "debugfs",  "tracefs",  "securityfs", "pstore",    "bpf",       "configfs",
                                        "fusectl",  "hugetlbfs", "binfmt_misc", "efivarfs", "autofs",    "nsfs",
                                        "selinuxfs", "rpc_pipefs", "devtmpfs"};
  for (const char* p : kPseudo)
    if (type == p) return true;
  return false;
}

// The host's view for a unit of root with idmapped mounts: every host mount cloned on its own (open_tree
// without AT_RECURSIVE: a submount of a recursive clone cannot be idmapped), read-only, nosuid and nodev,
// idmapped through `stranger` where its filesystem allows it, and attached at the same place below the new
// root (over /tmp of the private mount namespace). Left out: what each unit covers with its own (/tmp, /run,
// /sys/fs/cgroup; the host's /proc and /dev stay underneath the unit's, as its /proc/self serves the set-up
// until then), mounts hidden under others, and mounts below a directory no stranger may search (no unit
// could reach them). Filesystems that cannot be idmapped (nfs, most FUSE) are attached as
// they are and named in `note`: their files and sockets are guarded by their permission bits alone.
Result<UniqueFd> buildHostView(int stranger, std::string* note) {
  std::vector<HostMount> mounts = readMountinfo();
  // Parents before children; mounts stacked on one point keep their order.
  auto depth = [](const std::string& p) { return p == "/" ? 0 : std::count(p.begin(), p.end(), '/'); };
  std::stable_sort(mounts.begin(), mounts.end(),
                   [&](const HostMount& a, const HostMount& b) { return depth(a.point) < depth(b.point); });
  bool have_root = false;
  for (const HostMount& m : mounts) {
    if (within(m.point, "/tmp") || within(m.point, "/run") || within(m.point, kCgroupRoot)) continue;
    if (m.point != "/" && !have_root) continue;
    // The mount a path lookup reaches there: a mount hidden by another is nobody's to see.
    struct statx sx;
    if (statx(AT_FDCWD, m.point.c_str(), AT_NO_AUTOMOUNT | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &sx) != 0 ||
        !(sx.stx_mask & STATX_MNT_ID) || sx.stx_mnt_id != uint64_t(m.id))
      continue;
    UniqueFd tree(int(syscall(SYS_open_tree, AT_FDCWD, m.point.c_str(),
                              kOpenTreeClone | kOpenTreeCloexec | AT_NO_AUTOMOUNT)));
    if (!tree) {
      if (m.point == "/") return mountError("/", "open_tree the host root");
      continue;
    }
    MountAttr attr{kAttrRdonly | kAttrNosuid | kAttrNodev, 0, MS_PRIVATE, 0};
    if (syscall(SYS_mount_setattr, tree.get(), "", AT_EMPTY_PATH, &attr, sizeof attr) != 0)
      return mountError(m.point, "mount_setattr read-only");
    MountAttr idmap{kAttrIdmap, 0, 0, uint64_t(stranger)};
    if (syscall(SYS_mount_setattr, tree.get(), "", AT_EMPTY_PATH, &idmap, sizeof idmap) != 0) {
      if (m.point == "/") return mountError("/", "idmap the host root");
      if (!pseudoFilesystem(m.type)) addNote(note, m.point + " (" + m.type + ") not idmapped");
    }
    std::string target = m.point == "/" ? std::string(kNewRoot) : kNewRoot + m.point;
    if (syscall(SYS_move_mount, tree.get(), "", AT_FDCWD, target.c_str(), kMoveMountFEmptyPath) != 0) {
      if (m.point == "/") return mountError("/", "attach the host root");
      continue;  // below a directory no stranger may search (EACCES), or gone meanwhile
    }
    have_root |= m.point == "/";
  }
  if (!have_root) return Error{"mount /", ENOENT, "no root mount in mountinfo"};
  UniqueFd root(open(kNewRoot, O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return mountError("/", "open the new root");
  return root;
}

// A copy of the mount tree at `source` (an O_PATH fd) that belongs to no namespace yet (open_tree): private,
// nosuid and nodev, read-only when asked, and idmapped through `idmap` when it is not -1 (its top mount:
// submounts of a recursive copy cannot be). It can be attached in a mount namespace the caller enters later.
// A copy that could not be idmapped stays as it is, with a word in `note`.
Result<UniqueFd> detachedCopy(int source, Access access, const std::string& what, int idmap = -1,
                              std::string* note = nullptr) {
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

// Attaches a detachedCopy at `rel` below the root.
Result<void> attachInto(int root, int tree, const std::string& rel, Create create, const std::string& what,
                        const Searcher* as = nullptr) {
  struct stat st;
  if (fstat(tree, &st) != 0) return mountError(what, "stat source");
  auto target = openTarget(root, rel, S_ISDIR(st.st_mode) ? Kind::Dir : Kind::File, create, what, as);
  if (!target) return target.error();
  if (syscall(SYS_move_mount, tree, "", target->get(), "", kMoveMountFEmptyPath | kMoveMountTEmptyPath) != 0)
    return mountError(what, "move_mount");
  return {};
}

// The mount point, among `cgroup_mounts`, of the hierarchy that `dir` belongs to; empty when none.
std::string cgroupMountOf(const std::string& dir, const std::vector<std::string>& cgroup_mounts) {
  std::string best;
  for (const std::string& m : cgroup_mounts)
    if (within(dir, m) && m.size() > best.size()) best = m;
  return best;
}

// The unit's own sources: every bind source, opened (or, for a shared root and for what the unit owns,
// copied) while host paths still mean the host's, since building the new root hides the host's /tmp, where
// the sync directory usually lives. `in_host_ns`: the init has not yet unshared its mount namespace (a
// shared root), so the executor's fd of the output directory is a mount of this namespace.
//
// Every source but the output directory (an fd the executor opened) is an absolute path without symlinks,
// resolved by the executor before any unit ran, and bound at that same path (the real path: a symlink on
// the declared path still leads there, since the link is visible in the read-only root).
Result<std::vector<Bind>> unitBinds(const UnitSpec& spec, const UnitMounts& m, bool detached, bool in_host_ns,
                                    std::string* note) {
  std::vector<Bind> binds;
  auto add = [&](UniqueFd source, Access access, const std::string& inside, bool owned) -> Result<void> {
    int idmap = owned ? m.views.owner : -1;
    bool copy = detached || idmap >= 0;
    if (copy) {
      auto tree = detachedCopy(source.get(), access, inside, idmap, note);
      if (!tree) return tree.error();
      source = std::move(*tree);
    }
    binds.push_back(Bind{std::move(source), inside, access, inside, copy, owned});
    return {};
  };
  auto addPath = [&](const std::string& path, Access access, const std::string& inside, bool owned) -> Result<void> {
    auto fd = openNoSymlinks(path, inside);
    if (!fd) return fd.error();
    return add(std::move(*fd), access, inside, owned);
  };
  for (const std::string& v : spec.visible) MPEXEC_TRY(addPath(v, Access::ReadOnly, v, true));
  for (const std::string& w : spec.policy.writable) MPEXEC_TRY(addPath(w, Access::ReadWrite, w, true));
  if (spec.output_dir_fd >= 0 && in_host_ns) {
    UniqueFd fd(fcntl(spec.output_dir_fd, F_DUPFD_CLOEXEC, 3));
    if (!fd) return mountError(spec.output_dir, "dup the output directory");
    MPEXEC_TRY(add(std::move(fd), Access::ReadWrite, spec.output_dir, true));
  } else if (spec.output_dir_fd >= 0) {
    // In a mount namespace of our own already, where the executor's fd is a mount of another namespace,
    // which cannot be bound: the same directory by its path, checked to be the one the executor made.
    auto fd = openNoSymlinks(spec.output_dir, spec.output_dir);
    if (!fd) return fd.error();
    struct stat made, found;
    if (fstat(spec.output_dir_fd, &made) != 0 || fstat(fd->get(), &found) != 0 || made.st_dev != found.st_dev ||
        made.st_ino != found.st_ino)
      return Error{"mount " + spec.output_dir, EXDEV, "not the output directory the executor made"};
    MPEXEC_TRY(add(std::move(*fd), Access::ReadWrite, spec.output_dir, true));
  } else if (!spec.output_dir.empty()) {
    MPEXEC_TRY(addPath(spec.output_dir, Access::ReadWrite, spec.output_dir, true));
  }
  // The socket alone, in a directory of the unit's /run: the sync directory is the invoking user's, 0700,
  // which a unit with a uid of its own could not enter.
  if (!spec.sync_dir.empty()) MPEXEC_TRY(addPath(spec.sync_dir + "/sync.sock", Access::ReadOnly, kSyncSocketInside, false));
  // mpexec itself, so tests can run `"$MPEXEC_EXE" sync ...` wherever the host keeps the binary. By its path
  // (Context::exe(): the init may run mpexec-spawner, and a /proc/self/exe link leads to a mount of the
  // parent's namespace, which cannot be bound here).
  if (m.exe.empty()) return mountError(kExeInside, "readlink /proc/self/exe");
  MPEXEC_TRY(addPath(m.exe, Access::ReadOnly, kExeInside, false));
  if (spec.policy.network == Network::Host && access("/run/systemd/resolve", F_OK) == 0) {
    UniqueFd fd(open("/run/systemd/resolve", O_PATH | O_CLOEXEC));
    if (!fd) return mountError("/run/systemd/resolve", "open source");
    MPEXEC_TRY(add(std::move(fd), Access::ReadOnly, "/run/systemd/resolve", false));
  }
  for (const std::string& dir : m.cgroup_dirs) {
    std::string at = cgroupMountOf(dir, m.cgroup_mounts);
    if (at.empty()) continue;
    UniqueFd fd(open(dir.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return mountError(at, "open the unit's cgroup " + dir);
    MPEXEC_TRY(add(std::move(fd), Access::ReadOnly, at, false));
  }
  return binds;
}

// Binds each directory on the way down to `hidden` that lies inside a read-write bind (not its mount point)
// onto itself, outermost first. Such a directory is the host's and the unit may write it: renamed away, it
// would take the cover along, and the unit could plant a tree of its own at the hidden directory's path,
// which mpexec, outside, still opens by that path (a log turned into a link to a root-only file, printed
// and put in the reports as root). A mount point cannot be renamed or removed (EBUSY) by a process whose
// mount namespace holds it as one, nested ones included (copied and locked).
Result<void> pinWayTo(int root, const std::vector<Bind>& binds, const std::string& hidden) {
  for (size_t slash = hidden.find('/', 1); slash != std::string::npos; slash = hidden.find('/', slash + 1)) {
    std::string dir = hidden.substr(0, slash);
    bool inside_writable = false, mount_point = false;
    for (const Bind& b : binds) {
      mount_point |= b.target == dir;
      inside_writable |= b.access == Access::ReadWrite && within(dir, b.target) && !within(b.target, hidden);
    }
    if (!inside_writable || mount_point) continue;
    auto fd = openTarget(root, relative(dir), Kind::Dir, Create::No, hidden);
    if (!fd && (fd.error().err == ENOENT || fd.error().err == EACCES)) return {};  // not in view
    if (!fd) return fd.error();
    if (mount(fdPath(fd->get()).c_str(), fdPath(fd->get()).c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
      return mountError(hidden, "bind " + dir + " onto itself");
  }
  return {};
}

// What is the unit's own on top of the shared part of its root: /tmp, /dev/pts and /dev/shm, /proc, /run,
// the binds, and the hidden directories (spec.hidden) covered, the way down to each pinned (pinWayTo).
//
// A hidden directory is covered by an empty tmpfs after the binds that contain it (a writable project
// holding the state directory) and before the binds inside it (the output directory), whose mount points
// are made in it; then it is made read-only, and so is every directory covered on the way to a bind.
Result<void> mountOwn(int root, std::vector<Bind>& binds, const UnitSpec& spec, const IdViews& views) {
  MPEXEC_TRY(mountFresh(root, "tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", "/tmp"));
  MPEXEC_TRY(setupOwnDev(root));
  MPEXEC_TRY(setupProc(root, views.uid == 0));
  // A tmpfs /run hides the host's sockets (docker.sock, dbus) and gives /run/mpexec a place to exist.
  MPEXEC_TRY(mountFresh(root, "run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755", "/run"));
  std::vector<std::string> covered;
  Searcher as{views.uid, views.gid, &covered};
  const Searcher* way = views.uid != 0 ? &as : nullptr;
  auto inHidden = [&](const Bind& b) {
    for (const std::string& h : spec.hidden)
      if (within(b.target, h)) return true;
    return false;
  };
  auto place = [&](bool inside) -> Result<void> {
    for (Bind& b : binds) {
      if (inHidden(b) != inside) continue;
      if (b.detached)
        MPEXEC_TRY(attachInto(root, b.source.get(), relative(b.target), Create::Yes, b.what, way));
      else
        MPEXEC_TRY(bindInto(root, b.source.get(), relative(b.target), b.access, Create::Yes, b.what, way));
    }
    return {};
  };
  MPEXEC_TRY(place(false));
  for (const std::string& h : spec.hidden) MPEXEC_TRY(pinWayTo(root, binds, h));
  for (const std::string& h : spec.hidden) {
    auto target = openTarget(root, relative(h), Kind::Dir, Create::No, h);
    if (!target && (target.error().err == ENOENT || target.error().err == EACCES)) continue;  // not in view
    if (!target) return target.error();
    if (mount("tmpfs", fdPath(target->get()).c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755") != 0)
      return mountError(h, "cover with an empty tmpfs");
    covered.push_back(relative(h));
  }
  MPEXEC_TRY(place(true));
  for (const std::string& c : covered) {
    auto top = openTarget(root, c, Kind::Dir, Create::No, "/" + c);
    if (!top) return top.error();
    MPEXEC_TRY(makeReadOnly(top->get(), false, kAttrNosuid | kAttrNodev | kAttrNoexec, "/" + c));
  }
  return {};
}

// In the throw-away child of prepareSharedRoot, in a mount namespace of its own.
Result<void> buildSharedRoot(int stranger, const std::vector<std::string>& cgroup_mounts, std::string* note) {
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return mountError("/", "make private");
  // The per-unit steps need both calls; without them the units build their roots whole.
  {
    UniqueFd host_root(open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    MPEXEC_TRY(detachedCopy(host_root.get(), Access::ReadOnly, "/"));
  }
  std::vector<Bind> devices = deviceBinds();
  auto root = stranger >= 0 ? buildHostView(stranger, note) : bindHostRoot();
  if (!root) return root.error();
  MPEXEC_TRY(setupSharedDev(root->get(), devices));
  MPEXEC_TRY(coverCgroups(root->get(), cgroup_mounts));
  return pivotInto(root->get());
}

}  // namespace

std::vector<std::string> cgroupMountPoints() {
  std::vector<std::string> out;
  for (const HostMount& m : readMountinfo())
    if ((m.type == "cgroup" || m.type == "cgroup2") && within(m.point, kCgroupRoot)) out.push_back(m.point);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Result<SharedRoot> prepareSharedRoot(int stranger, const std::vector<std::string>& cgroup_mounts) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return sysError("socketpair", "shared root");
  UniqueFd mine(sv[0]), theirs(sv[1]);
  // What the helper says: its errno (0 on success), then its note.
  struct Verdict {
    int err;
    char note[2000];
  };
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return sysError("fork", "shared root");
  if (pid == 0) {
    mine.reset();
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    std::string note;
    Result<void> built = unshare(CLONE_NEWNS) == 0 ? buildSharedRoot(stranger, cgroup_mounts, &note)
                                                   : sysError("unshare", "mount namespace");
    Verdict v{};
    v.err = built ? 0 : built.error().err ? built.error().err : EIO;
    snprintf(v.note, sizeof v.note, "%s", note.c_str());
    (void)!send(theirs.get(), &v, sizeof v, MSG_NOSIGNAL);
    char c;
    (void)!recv(theirs.get(), &c, 1, 0);  // until the parent has opened our namespace (or is gone)
    _exit(0);
  }
  theirs.reset();
  Verdict v{};
  v.err = EPIPE;
  bool told = recv(mine.get(), &v, sizeof v, 0) == ssize_t(sizeof v);
  SharedRoot made;
  if (told && v.err == 0) made.ns.reset(open(("/proc/" + std::to_string(pid) + "/ns/mnt").c_str(), O_RDONLY | O_CLOEXEC));
  int open_err = errno;
  mine.reset();
  while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  if (!told) return Error{"shared root", EPIPE, "the helper exited without a word"};
  if (v.err != 0) return Error{"shared root", v.err, "building it"};
  if (!made.ns) return Error{"shared root", open_err, "open its mount namespace"};
  made.note = std::string(v.note, strnlen(v.note, sizeof v.note));
  return made;
}

Result<void> setupFilesystem(const UnitSpec& spec, const UnitMounts& m, std::string* note) {
  if (m.shared_root >= 0) {
    auto binds = unitBinds(spec, m, true, true, note);
    if (!binds) return binds.error();
    // A copy of the shared root, whose root and cwd setns makes ours: no old root to detach.
    if (setns(m.shared_root, CLONE_NEWNS) == 0) {
      if (unshare(CLONE_NEWNS) != 0) return sysError("unshare", "mount namespace");
      UniqueFd root(open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
      if (!root) return mountError("/", "open the root");
      MPEXEC_TRY(mountOwn(root.get(), *binds, spec, m.views));
      if (chdir("/") != 0) return sysError("chdir", "/");
      return {};
    }
    // Refused (a security module may allow unshare and mount but not setns): the whole root, as without it.
    if (errno != EPERM && errno != EACCES) return sysError("setns", "the shared root's mount namespace");
    if (unshare(CLONE_NEWNS) != 0) return sysError("unshare", "mount namespace");
  }
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return mountError("/", "make private");
  std::string unused;
  auto binds = unitBinds(spec, m, false, false, m.shared_root >= 0 ? &unused : note);
  if (!binds) return binds.error();
  std::vector<Bind> devices = deviceBinds();
  auto root = m.views.stranger >= 0 ? buildHostView(m.views.stranger, &unused) : bindHostRoot();
  if (!root) return root.error();
  MPEXEC_TRY(setupSharedDev(root->get(), devices));
  MPEXEC_TRY(coverCgroups(root->get(), m.cgroup_mounts.empty() ? cgroupMountPoints() : m.cgroup_mounts));
  MPEXEC_TRY(mountOwn(root->get(), *binds, spec, m.views));
  return pivotInto(root->get());
}

}  // namespace mpexec::sandbox
