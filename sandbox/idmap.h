#pragma once
// User namespaces made only to idmap mounts with (DESIGN §4 "Identity"): the stranger's view, through which
// a unit reads the host, and each unit's owner view, through which it owns what it is given.

#include <sys/types.h>

#include <string>

#include "sandbox/result.h"
#include "sandbox/unique_fd.h"

namespace mpexec::sandbox {

/// A user namespace with the given maps (lines as /proc/<pid>/uid_map and gid_map take them), held by its
/// nsfs fd. Forks a child that unshares it and exits once it is held. Needs CAP_SETUID and CAP_SETGID for
/// maps other than one's own ids. The caller must be single-threaded or glibc's fork must leave its heap
/// usable.
Result<UniqueFd> makeIdmapNamespace(const std::string& uid_map, const std::string& gid_map);

/// The stranger's view: maps only an id no file has (4294967290), so that through it every file belongs to
/// nobody mapped. A unit then reads host files by their "other" permission bits, writes none, and connects
/// to none of their Unix sockets (the kernel refuses MAY_WRITE on an inode whose owner is not mapped).
Result<UniqueFd> strangerView();

/// A unit's owner view: the invoking user's uid and gid seen as the unit's own host uid and gid. A file of
/// the invoking user is the unit's through it, and a file the unit creates through it is stored as the
/// invoking user's.
Result<UniqueFd> ownerView(uid_t invoking_uid, gid_t invoking_gid, uid_t unit_uid, gid_t unit_gid);

}  // namespace mpexec::sandbox
