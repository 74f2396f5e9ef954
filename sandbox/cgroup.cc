#include "sandbox/cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "sandbox/unique_fd.h"

namespace mpexec::sandbox {

uint64_t taskShare(int slots) {
  uint64_t least = 0;
  for (const char* path : {"/proc/sys/kernel/pid_max", "/proc/sys/kernel/threads-max"}) {
    FILE* f = fopen(path, "re");
    unsigned long long v = 0;
    if (f && fscanf(f, "%llu", &v) == 1 && v > 0 && (least == 0 || v < least)) least = v;
    if (f) fclose(f);
  }
  return least / uint64_t(std::max(1, slots) + 1);
}
namespace {

Result<void> writeFile(const std::string& path, const std::string& content) {
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return sysError("open", path);
  if (write(fd.get(), content.data(), content.size()) != static_cast<ssize_t>(content.size()))
    return sysError("write", path + " <- " + content);
  return {};
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

bool contains(const std::vector<std::string>& v, const std::string& w) {
  for (const auto& x : v)
    if (x == w) return true;
  return false;
}

// Where mpexec sits: controller ("" for the unified hierarchy) -> path, from /proc/self/cgroup.
std::map<std::string, std::string> ownCgroups() {
  std::map<std::string, std::string> out;
  std::ifstream in("/proc/self/cgroup");
  for (std::string line; std::getline(in, line);) {
    size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string ctrls = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (ctrls.empty()) out[""] = path;
    std::stringstream ss(ctrls);
    for (std::string c; std::getline(ss, c, ',');) out[c] = path;
  }
  return out;
}

struct CgroupMount {
  std::string point, root;
  std::vector<std::string> options;  // super options: the v1 controllers
};

// cgroup (v1) mounts by controller, and the cgroup2 mount under key "".
std::map<std::string, CgroupMount> cgroupMounts() {
  std::map<std::string, CgroupMount> out;
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::vector<std::string> pre = words(line.substr(0, dash)), post = words(line.substr(dash + 3));
    if (pre.size() < 5 || post.size() < 3) continue;
    CgroupMount m{pre[4], pre[3], {}};
    std::stringstream ss(post[2]);
    for (std::string o; std::getline(ss, o, ',');) m.options.push_back(o);
    if (post[0] == "cgroup2" && !out.count("")) out[""] = m;
    if (post[0] == "cgroup")
      for (const auto& o : m.options)
        if (!out.count(o)) out[o] = m;
  }
  return out;
}

// The directory of mpexec's own cgroup for `controller` ("" = unified), or "" if it is not visible here.
std::string ownDir(const std::map<std::string, CgroupMount>& mounts, const std::map<std::string, std::string>& own,
                   const std::string& controller) {
  auto m = mounts.find(controller);
  auto o = own.find(controller);
  if (m == mounts.end() || o == own.end()) return {};
  std::string path = o->second, root = m->second.root;
  if (root != "/") {
    if (path.compare(0, root.size(), root) != 0) return {};  // our cgroup is outside what is mounted
    path = path.substr(root.size());
  }
  std::string dir = m->second.point + (path == "/" ? "" : path);
  return access(dir.c_str(), W_OK) == 0 ? dir : std::string();
}

std::string runDirName() { return "mpexec-" + std::to_string(getpid()); }

/// An mpexec killed with SIGKILL cannot remove its mpexec-<pid> directories; its sandboxes died with it
/// (PDEATHSIG), so they are empty. The next mpexec under the same cgroup removes them: only directories
/// named after a pid that no longer exists, and only empty ones (rmdir refuses anything else).
void removeStaleRunDirs(const std::string& parent) {
  DIR* d = opendir(parent.c_str());
  if (!d) return;
  std::vector<std::string> stale;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name.rfind("mpexec-", 0) != 0) continue;
    char* end = nullptr;
    long pid = strtol(name.c_str() + 7, &end, 10);
    if (pid <= 0 || *end != '\0' || pid == getpid()) continue;
    if (kill(pid_t(pid), 0) == 0 || errno != ESRCH) continue;
    stale.push_back(parent + "/" + name);
  }
  closedir(d);
  for (const auto& dir : stale) {
    if (DIR* sub = opendir(dir.c_str())) {
      while (dirent* e = readdir(sub))
        if (e->d_type == DT_DIR && e->d_name[0] != '.') rmdir((dir + "/" + e->d_name).c_str());
      closedir(sub);
    }
    rmdir(dir.c_str());
  }
}

bool makeDir(const std::string& dir) { return mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST; }

std::string sanitize(const std::string& unit) {
  std::string out;
  for (char c : unit) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-';
    out += ok ? c : '_';
    if (out.size() >= 64) break;
  }
  return out.empty() ? std::string("unit") : out;
}

}  // namespace

std::unique_ptr<CgroupRoot> CgroupRoot::detect(std::string* why) {
  auto mounts = cgroupMounts();
  auto own = ownCgroups();
  std::unique_ptr<CgroupRoot> root(new CgroupRoot);
  std::string unified = ownDir(mounts, own, "");

  // v2 with the memory and pids controllers available to our cgroup.
  if (!unified.empty() && !mounts.count("memory")) {
    auto available = words(readFile(unified + "/cgroup.controllers"));
    removeStaleRunDirs(unified);
    std::string run = unified + "/" + runDirName();
    if (makeDir(run)) {
      root->version_ = CgroupVersion::V2;
      root->created_.push_back(run);
      root->kill_dir_ = run;
      root->has_kill_file_ = exists(run + "/cgroup.kill");
      std::string want;
      for (const char* c : {"memory", "pids"})
        if (contains(available, c)) want += std::string(want.empty() ? "" : " ") + "+" + c;
      bool enabled = false;
      if (!want.empty()) {
        auto on = words(readFile(unified + "/cgroup.subtree_control"));
        bool have = true;
        for (const auto& w : words(want)) have = have && contains(on, w.substr(1));
        enabled = have || writeFile(unified + "/cgroup.subtree_control", want).ok();
        // "No internal processes": controllers can be enabled for children only once no process sits in
        // our own cgroup. If mpexec is alone there, it moves itself into a leaf of its run directory.
        if (!enabled && words(readFile(unified + "/cgroup.procs")) == std::vector<std::string>{std::to_string(getpid())}) {
          std::string leaf = run + "/supervisor";
          if (makeDir(leaf) && writeFile(leaf + "/cgroup.procs", "0").ok()) {
            root->moved_self_ = true;
            root->base_ = unified;
            root->created_.push_back(leaf);
            enabled = writeFile(unified + "/cgroup.subtree_control", want).ok();
            if (enabled) {
              std::string off = want;
              for (auto& ch : off)
                if (ch == '+') ch = '-';
              root->enabled_in_base_ = off;
            }
          }
        }
        enabled = enabled && writeFile(run + "/cgroup.subtree_control", want).ok();
      }
      if (enabled) {
        auto on = words(readFile(run + "/cgroup.subtree_control"));
        if (contains(on, "memory")) root->memory_dir_ = run;
        if (contains(on, "pids")) root->pids_dir_ = run;
      } else if (why) {
        *why = "cgroup v2: memory/pids controllers cannot be enabled below " + unified + "; cgroup.kill only";
      }
      return root;
    }
  }

  // v1 (possibly hybrid): memory and pids hierarchies, plus the unified one for cgroup.kill.
  root->version_ = CgroupVersion::V1;
  for (const char* c : {"memory", "pids"}) {
    std::string dir = ownDir(mounts, own, c);
    if (dir.empty()) continue;
    removeStaleRunDirs(dir);
    std::string run = dir + "/" + runDirName();
    if (!makeDir(run)) continue;
    root->created_.push_back(run);
    (std::string(c) == "memory" ? root->memory_dir_ : root->pids_dir_) = run;
  }
  if (!unified.empty()) {
    removeStaleRunDirs(unified);
    std::string run = unified + "/" + runDirName();
    if (makeDir(run)) {
      root->created_.push_back(run);
      root->kill_dir_ = run;
      root->has_kill_file_ = exists(run + "/cgroup.kill");
    }
  }
  if (root->created_.empty()) {
    if (why) *why = "no writable cgroup below mpexec's own (see /proc/self/cgroup)";
    return nullptr;
  }
  return root;
}

CgroupRoot::~CgroupRoot() {
  if (moved_self_) {
    // Undo in reverse: controllers off in our run directory and our own cgroup, then move back home.
    std::string run = created_.front();
    if (!enabled_in_base_.empty()) {
      (void)writeFile(run + "/cgroup.subtree_control", enabled_in_base_);
      (void)writeFile(base_ + "/cgroup.subtree_control", enabled_in_base_);
    }
    (void)writeFile(base_ + "/cgroup.procs", "0");
  }
  for (auto it = created_.rbegin(); it != created_.rend(); ++it) rmdir(it->c_str());
}

std::string CgroupRoot::describe() const {
  std::string s = version_ == CgroupVersion::V2 ? "cgroup v2" : "cgroup v1";
  std::string ctl;
  if (limitsMemory()) ctl += "memory";
  if (limitsPids()) ctl += std::string(ctl.empty() ? "" : ", ") + "pids";
  s += " (" + (ctl.empty() ? std::string("no limits") : ctl) + ")";
  if (version_ == CgroupVersion::V1 && canKill()) s += " + cgroup2 kill";
  return s;
}

Result<std::unique_ptr<UnitCgroupDirs>> CgroupRoot::createUnit(const std::string& unit, const Policy& policy) const {
  static std::atomic<uint64_t> seq{0};
  std::string name = sanitize(unit) + "-" + std::to_string(++seq);
  std::unique_ptr<UnitCgroupDirs> cg(new UnitCgroupDirs);
  // On v1 with the unified kill directory, a controller's directory only for a limit the unit asks for: a
  // v1 memory cgroup creates dozens of control files, ~10% of a trivial unit's whole cost here, and kills
  // go through the unified directory. (What a memory cgroup without a limit still did: count a global OOM
  // kill of the unit's processes. Such a kill then reads as SIGKILL.)
  auto wanted = [&](const std::string* base) {
    if (version_ == CgroupVersion::V2 || kill_dir_.empty() || base == &kill_dir_) return true;
    return base == &memory_dir_ ? policy.memory_bytes > 0 : policy.pids > 0;
  };
  for (const std::string* base : {&memory_dir_, &pids_dir_, &kill_dir_}) {
    if (base->empty() || !wanted(base)) continue;
    std::string dir = *base + "/" + name;
    if (contains(cg->dirs_, dir)) continue;
    if (mkdir(dir.c_str(), 0755) != 0) return sysError("mkdir", dir);  // cg's destructor removes the others
    cg->dirs_.push_back(dir);
  }
  if (limitsMemory() && wanted(&memory_dir_)) {
    std::string dir = memory_dir_ + "/" + name;
    std::string bytes = std::to_string(policy.memory_bytes);
    if (version_ == CgroupVersion::V2) {
      cg->oom_file_ = dir + "/memory.events";
      if (policy.memory_bytes > 0) {
        MPEXEC_TRY(writeFile(dir + "/memory.max", bytes));
        // Swap would let a unit exceed its limit unseen; v1's memsw limit below does the same.
        if (exists(dir + "/memory.swap.max")) MPEXEC_TRY(writeFile(dir + "/memory.swap.max", "0"));
      }
    } else {
      cg->oom_file_ = dir + "/memory.oom_control";
      if (policy.memory_bytes > 0) {
        MPEXEC_TRY(writeFile(dir + "/memory.limit_in_bytes", bytes));
        if (exists(dir + "/memory.memsw.limit_in_bytes"))
          MPEXEC_TRY(writeFile(dir + "/memory.memsw.limit_in_bytes", bytes));
      }
    }
  }
  if (limitsPids() && policy.pids > 0 && wanted(&pids_dir_)) MPEXEC_TRY(writeFile(pids_dir_ + "/" + name + "/pids.max", std::to_string(policy.pids)));
  if (canKill() && has_kill_file_) cg->kill_file_ = kill_dir_ + "/" + name + "/cgroup.kill";
  return cg;
}

UnitCgroupDirs::~UnitCgroupDirs() {
  // rmdir removes only an empty cgroup (EBUSY otherwise), so the kill is for what refuses: a unit whose init
  // was reaped has nothing left in it (the pid namespace's processes die with their init), and an open, a
  // write to cgroup.kill and a close per unit were spent on nothing. Dying processes leave their cgroup a
  // moment after the kill: retry for up to two seconds.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  std::vector<std::string> left(dirs_.rbegin(), dirs_.rend());
  while (!left.empty()) {
    std::vector<std::string> busy;
    for (const auto& d : left)
      if (rmdir(d.c_str()) != 0 && errno != ENOENT) busy.push_back(d);
    left.swap(busy);
    if (left.empty() || std::chrono::steady_clock::now() > deadline) break;
    killAll();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

uint64_t UnitCgroupDirs::oomKills() const {
  if (oom_file_.empty()) return 0;
  std::istringstream in(readFile(oom_file_));
  for (std::string key; in >> key;) {
    uint64_t n = 0;
    if (!(in >> n)) break;
    if (key == "oom_kill") return n;
  }
  return 0;
}

void UnitCgroupDirs::killAll() {
  if (!kill_file_.empty() && writeFile(kill_file_, "1").ok()) return;
  // No cgroup.kill: a sweep. A process may fork between the read and the kill, hence the repeats.
  for (int round = 0; round < 20 && !dirs_.empty(); ++round) {
    auto pids = words(readFile(dirs_.front() + "/cgroup.procs"));
    if (pids.empty()) return;
    for (const auto& p : pids) kill(std::stoi(p), SIGKILL);
  }
}

Result<void> UnitCgroupDirs::join(bool skip_v2) const { return joinDirs(dirs_, skip_v2); }

int UnitCgroupDirs::openV2Dir() const { return openV2DirOf(dirs_); }

Result<void> UnitCgroupDirs::joinDirs(const std::vector<std::string>& dirs, bool skip_v2) {
  for (const auto& d : dirs) {
    if (exists(d + "/tasks")) {
      MPEXEC_TRY(writeFile(d + "/tasks", "0"));
    } else if (!skip_v2) {
      MPEXEC_TRY(writeFile(d + "/cgroup.procs", "0"));
    }
  }
  return {};
}

int UnitCgroupDirs::openV2DirOf(const std::vector<std::string>& dirs) {
  for (const auto& d : dirs)
    if (!exists(d + "/tasks")) return open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  return -1;
}

}  // namespace mpexec::sandbox
