#include "sandbox/idmap.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

namespace mpexec::sandbox {
namespace {

bool writeFile(const std::string& path, const std::string& text) {
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  return fd && write(fd.get(), text.data(), text.size()) == ssize_t(text.size());
}

}  // namespace

Result<UniqueFd> makeIdmapNamespace(const std::string& uid_map, const std::string& gid_map) {
  int ready[2], done[2];
  if (pipe2(ready, O_CLOEXEC) != 0) return sysError("pipe2", "idmap namespace");
  UniqueFd ready_r(ready[0]), ready_w(ready[1]);
  if (pipe2(done, O_CLOEXEC) != 0) return sysError("pipe2", "idmap namespace");
  UniqueFd done_r(done[0]), done_w(done[1]);
  pid_t holder = fork();
  if (holder < 0) return sysError("fork", "idmap namespace");
  if (holder == 0) {
    ready_r.reset();
    done_w.reset();  // or the read below never sees the end
    char c = unshare(CLONE_NEWUSER) == 0 ? 'y' : 'n';
    (void)!write(ready_w.get(), &c, 1);
    (void)!read(done_r.get(), &c, 1);  // until the parent holds the namespace (or is gone)
    _exit(0);
  }
  ready_w.reset();
  done_r.reset();
  char c = 0;
  Result<UniqueFd> out = Error{"unshare", EPERM, "a user namespace for idmapped mounts"};
  if (read(ready_r.get(), &c, 1) == 1 && c == 'y') {
    std::string base = "/proc/" + std::to_string(holder) + "/";
    if (!writeFile(base + "uid_map", uid_map)) {
      out = sysError("write", "uid_map of an idmap namespace");
    } else if (!writeFile(base + "gid_map", gid_map)) {
      out = sysError("write", "gid_map of an idmap namespace");
    } else {
      UniqueFd ns(open((base + "ns/user").c_str(), O_RDONLY | O_CLOEXEC));
      out = ns ? Result<UniqueFd>(std::move(ns)) : Result<UniqueFd>(sysError("open", "an idmap namespace"));
    }
  }
  done_w.reset();
  while (waitpid(holder, nullptr, 0) < 0 && errno == EINTR) {
  }
  return out;
}

Result<UniqueFd> strangerView() {
  return makeIdmapNamespace("4294967290 4294967290 1\n", "4294967290 4294967290 1\n");
}

Result<UniqueFd> ownerView(uid_t invoking_uid, gid_t invoking_gid, uid_t unit_uid, gid_t unit_gid) {
  return makeIdmapNamespace(std::to_string(invoking_uid) + " " + std::to_string(unit_uid) + " 1\n",
                            std::to_string(invoking_gid) + " " + std::to_string(unit_gid) + " 1\n");
}

}  // namespace mpexec::sandbox
