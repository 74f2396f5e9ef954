#include "sandbox/mount.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <string>
#include <vector>

#include "sandbox/mount_calls.h"
#include "sandbox/unique_fd.h"

namespace mpexec::sandbox {
namespace {

// Where the new root is assembled: the host root is bound over /tmp of the (private) mount namespace, so
// no directory has to be created on the host, and everything below is later made the root by pivot_root.
constexpr const char* kNewRoot = "/tmp";

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
  auto proc = openTarget(root, "proc", Kind::Dir, Create::No, "/proc");
  if (!proc) return proc.error();
  // Each a read-only copy of itself (open_tree), attached on itself: three calls, where a bind onto itself
  // then made read-only takes five. Names one component below the new /proc, the last one not followed.
  // Without open_tree or mount_setattr (before Linux 5.12), or where they are refused, as below.
  size_t copied = 0;
  for (; copied < names.size(); ++copied) {
    const char* name = names[copied];
    UniqueFd tree(int(syscall(SYS_open_tree, proc->get(), name,
                              kOpenTreeClone | kOpenTreeCloexec | kAtRecursive | AT_SYMLINK_NOFOLLOW)));
    if (!tree && errno == ENOENT) continue;  // e.g. no /proc/bus without PCI
    MountAttr attr{kAttrRdonly | kAttrNosuid | kAttrNodev | kAttrNoexec, 0, 0, 0};
    if (!tree || syscall(SYS_mount_setattr, tree.get(), "", AT_EMPTY_PATH | kAtRecursive, &attr, sizeof attr) != 0)
      break;
    if (syscall(SYS_move_mount, tree.get(), "", proc->get(), name, kMoveMountFEmptyPath) != 0)
      return mountError(std::string("/proc/") + name, "move_mount");
  }
  names.erase(names.begin(), names.begin() + long(copied));
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

// The mount point, among `cgroup_mounts`, of the hierarchy that `dir` belongs to; empty when none.
std::string cgroupMountOf(const std::string& dir, const std::vector<std::string>& cgroup_mounts) {
  std::string best;
  for (const std::string& m : cgroup_mounts)
    if (within(dir, m) && m.size() > best.size()) best = m;
  return best;
}

// What every unit's /run holds, opened: the sync service's socket alone (the sync directory is the invoking
// user's, 0700, which a unit with a uid of its own could not enter), and mpexec itself, so tests can run
// `"$MPEXEC_EXE" sync ...` wherever the host keeps the binary. mpexec by its path (Context::exe(): the init
// may run mpexec-spawner, and a /proc/self/exe link leads to a mount of the parent's namespace, which cannot
// be bound there). Each with its target inside.
Result<std::vector<std::pair<UniqueFd, std::string>>> runBinds(const std::string& exe, const std::string& sync_dir) {
  std::vector<std::pair<UniqueFd, std::string>> out;
  if (!sync_dir.empty()) {
    auto fd = openNoSymlinks(sync_dir + "/sync.sock", kSyncSocketInside);
    if (!fd) return fd.error();
    out.emplace_back(std::move(*fd), kSyncSocketInside);
  }
  if (exe.empty()) return mountError(kExeInside, "readlink /proc/self/exe");
  auto fd = openNoSymlinks(exe, kExeInside);
  if (!fd) return fd.error();
  out.emplace_back(std::move(*fd), kExeInside);
  return out;
}

// Whether the unit mounts a /run of its own rather than use the shared root's (UnitMounts::shared_run): it
// has no shared root or /run there was made for another sync directory; it runs as uid 0 (uid 0 of mpexec's
// user namespace owns /run's root and could write its own, where the shared one is read-only); or it binds
// something under /run (a project there, DNS with network "host"), which needs a mount point made in it.
bool ownRun(const UnitSpec& spec, const UnitMounts& m) {
  if (m.shared_root < 0 || !m.shared_run || *m.shared_run != spec.sync_dir || m.views.uid == 0) return true;
  if (spec.policy.network == Network::Host) return true;
  auto underRun = [](const std::string& p) { return within(p, "/run"); };
  return std::any_of(spec.visible.begin(), spec.visible.end(), underRun) ||
         std::any_of(spec.policy.writable.begin(), spec.policy.writable.end(), underRun) ||
         std::any_of(spec.hidden.begin(), spec.hidden.end(), underRun) || underRun(spec.output_dir);
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
                                    bool own_run, std::string* note) {
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
  // The sync socket and mpexec itself, unless the shared root's /run holds them already (sharedRunBinds).
  if (own_run) {
    auto run = runBinds(m.exe, spec.sync_dir);
    if (!run) return run.error();
    for (auto& [fd, inside] : *run) MPEXEC_TRY(add(std::move(fd), Access::ReadOnly, inside, false));
  }
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
Result<void> mountOwn(int root, std::vector<Bind>& binds, const UnitSpec& spec, const IdViews& views, bool own_run) {
  MPEXEC_TRY(mountFresh(root, "tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", "/tmp"));
  MPEXEC_TRY(setupOwnDev(root));
  MPEXEC_TRY(setupProc(root, views.uid == 0));
  // A tmpfs /run hides the host's sockets (docker.sock, dbus) and gives /run/mpexec a place to exist; the
  // shared root's, when it serves (ownRun), is one already.
  if (own_run) MPEXEC_TRY(mountFresh(root, "run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755", "/run"));
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

// In shareRun's throw-away child, still in the host's mount namespace: the sources are copied here (the
// sync directory usually lives in the host's /tmp), then attached in a read-only tmpfs /run of the shared
// root's namespace, in place of the one an earlier attempt made there.
Result<void> buildSharedRun(int ns, const std::string& exe, const std::string& sync_dir) {
  auto sources = runBinds(exe, sync_dir);
  if (!sources) return sources.error();
  std::vector<std::pair<UniqueFd, std::string>> trees;
  for (auto& [fd, inside] : *sources) {
    auto tree = detachedCopy(fd.get(), Access::ReadOnly, inside);
    if (!tree) return tree.error();
    trees.emplace_back(std::move(*tree), inside);
  }
  if (setns(ns, CLONE_NEWNS) != 0) return sysError("setns", "the shared root's mount namespace");
  if (umount2("/run", MNT_DETACH) != 0 && errno != EINVAL) return mountError("/run", "detach the last one");
  UniqueFd root(open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return mountError("/", "open the root");
  MPEXEC_TRY(mountFresh(root.get(), "run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755", "/run"));
  for (auto& [tree, inside] : trees)
    MPEXEC_TRY(attachInto(root.get(), tree.get(), relative(inside), Create::Yes, inside));
  auto run = openTarget(root.get(), "run", Kind::Dir, Create::No, "/run");
  if (!run) return run.error();
  return makeReadOnly(run->get(), false, kAttrNosuid | kAttrNodev, "/run");
}

}  // namespace

bool shareRun(SharedRoot& root, const std::string& exe, const std::string& sync_dir) {
  if (root.run && *root.run == sync_dir) return true;
  constexpr int kAttempts = 3;  // a run has one sync directory: more is a bug, and units do without
  if (!root.ns || root.run_attempts >= kAttempts) return false;
  ++root.run_attempts;
  root.run.reset();
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    _exit(buildSharedRun(root.ns.get(), exe, sync_dir) ? 0 : 1);
  }
  int status = -1;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return false;
  root.run = sync_dir;
  return true;
}

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
    const bool own_run = ownRun(spec, m);
    auto binds = unitBinds(spec, m, true, true, own_run, note);
    if (!binds) return binds.error();
    // A copy of the shared root, whose root and cwd setns makes ours: no old root to detach.
    if (setns(m.shared_root, CLONE_NEWNS) == 0) {
      if (unshare(CLONE_NEWNS) != 0) return sysError("unshare", "mount namespace");
      UniqueFd root(open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
      if (!root) return mountError("/", "open the root");
      MPEXEC_TRY(mountOwn(root.get(), *binds, spec, m.views, own_run));
      if (chdir("/") != 0) return sysError("chdir", "/");
      return {};
    }
    // Refused (a security module may allow unshare and mount but not setns): the whole root, as without it.
    if (errno != EPERM && errno != EACCES) return sysError("setns", "the shared root's mount namespace");
    if (unshare(CLONE_NEWNS) != 0) return sysError("unshare", "mount namespace");
  }
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return mountError("/", "make private");
  std::string unused;
  auto binds = unitBinds(spec, m, false, false, true, m.shared_root >= 0 ? &unused : note);
  if (!binds) return binds.error();
  std::vector<Bind> devices = deviceBinds();
  auto root = m.views.stranger >= 0 ? buildHostView(m.views.stranger, &unused) : bindHostRoot();
  if (!root) return root.error();
  MPEXEC_TRY(setupSharedDev(root->get(), devices));
  MPEXEC_TRY(coverCgroups(root->get(), m.cgroup_mounts.empty() ? cgroupMountPoints() : m.cgroup_mounts));
  MPEXEC_TRY(mountOwn(root->get(), *binds, spec, m.views, true));
  return pivotInto(root->get());
}

}  // namespace mpexec::sandbox
