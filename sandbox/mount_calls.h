#pragma once
// The mount operations a unit's filesystem view is built with (sandbox/mount.cc): targets opened one
// component at a time without following a symlink, binds and fresh mounts, mount attributes (mount_setattr,
// or remounts before Linux 5.12), detached copies of a tree (open_tree, move_mount), and the host's mount
// table. Each error names the step ("mount /proc").

#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "sandbox/result.h"
#include "sandbox/unique_fd.h"

namespace mpexec::sandbox {

// struct mount_attr and its flags (linux/mount.h), spelled out: glibc's <sys/mount.h> and <linux/mount.h>
// cannot both be included on every version.
struct MountAttr {
  uint64_t attr_set, attr_clr, propagation, userns_fd;
};
inline constexpr uint64_t kAttrRdonly = 0x1, kAttrNosuid = 0x2, kAttrNodev = 0x4, kAttrNoexec = 0x8,
                          kAttrIdmap = 0x100000;
inline constexpr unsigned kAtRecursive = 0x8000;
// open_tree(2) and move_mount(2) flags (linux/mount.h), for the same reason.
inline constexpr unsigned kOpenTreeClone = 1, kOpenTreeCloexec = O_CLOEXEC;
inline constexpr unsigned kMoveMountFEmptyPath = 0x4, kMoveMountTEmptyPath = 0x40;
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif

enum class Kind { Dir, File };
enum class Create { No, Yes };
enum class Access { ReadOnly, ReadWrite };

/// Who a unit's processes are, for the way to a bind target: a directory there that this uid could not
/// search (a 0700 /root on the way to a project below it) is covered by an empty tmpfs that only shows the
/// way, and later made read-only. Covering hides nothing the uid could have seen.
struct Searcher {
  uid_t uid;
  gid_t gid;
  std::vector<std::string>* covered;  ///< relative paths of the directories covered
};

/// "/proc/self/fd/N": how a mount call names an fd.
std::string fdPath(int fd);
/// The error of a failed mount step: call "mount WHAT", errno, `detail`.
Error mountError(const std::string& what, const std::string& detail = {});
/// Appends `phrase` to `note` (when there is one), "; " between phrases.
void addNote(std::string* note, const std::string& phrase);

/// Opens `rel` below `root` one component at a time with O_NOFOLLOW, so that no symlink, whoever planted
/// it, can redirect a mount. Missing components are created when asked (they then live on a tmpfs of
/// ours). With `as`, a directory on the way that `as` could not search is covered first (Searcher).
Result<UniqueFd> openTarget(int root, const std::string& rel, Kind kind, Create create, const std::string& what,
                            const Searcher* as = nullptr);

/// Sets mount attributes on the mount at `fd` (and every submount when `recursive`).
Result<void> setAttrs(int fd, bool recursive, uint64_t attrs, const std::string& what);
/// setAttrs() with read-only added.
Result<void> makeReadOnly(int fd, bool recursive, uint64_t extra_attrs, const std::string& what);

/// Binds the already-opened `source` onto `rel` below the new root, recursively: read-only when asked, and
/// with `attrs` (nosuid and nodev but for the devices of /dev). The target is opened again after the mount
/// so that the flags land on the new mount.
Result<void> bindInto(int root, int source, const std::string& rel, Access access, Create create,
                      const std::string& what, const Searcher* as = nullptr,
                      uint64_t attrs = kAttrNosuid | kAttrNodev);
/// Mounts a new filesystem of `type` at `rel` below `root`, creating the directory when it is missing.
Result<void> mountFresh(int root, const std::string& rel, const char* type, unsigned long flags, const char* data,
                        const std::string& what);

/// Opens the source `path` (O_PATH) without following a symlink anywhere on the way. The executor resolves
/// every bind source once, before any unit runs; a symlink met now was planted since, by a unit that may
/// write there, and must not redirect a bind.
Result<UniqueFd> openNoSymlinks(const std::string& path, const std::string& what);

/// A copy of the mount tree at `source` (an O_PATH fd) that belongs to no namespace yet (open_tree):
/// private, nosuid and nodev, read-only when asked, and idmapped through `idmap` when it is not -1 (its top
/// mount: submounts of a recursive copy cannot be). It can be attached in a mount namespace the caller
/// enters later. A copy that could not be idmapped stays as it is, with a word in `note`.
Result<UniqueFd> detachedCopy(int source, Access access, const std::string& what, int idmap = -1,
                              std::string* note = nullptr);
/// Attaches a detachedCopy() at `rel` below the root.
Result<void> attachInto(int root, int tree, const std::string& rel, Create create, const std::string& what,
                        const Searcher* as = nullptr);

/// A mount of /proc/self/mountinfo.
struct HostMount {
  int id = 0;
  std::string point;  ///< unescaped
  std::string type;
};
/// /proc/self/mountinfo's mounts, in its order.
std::vector<HostMount> readMountinfo();
/// Whether `path` is `dir` or lies below it.
bool within(const std::string& path, const std::string& dir);

}  // namespace mpexec::sandbox
