#include "sandbox/mount.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <functional>

#include "tests/sandbox/contained.h"

namespace mpexec::sandbox {
namespace {
using namespace testing;

int entries(const char* dir) {
  DIR* d = opendir(dir);
  if (!d) return -1;
  int n = 0;
  while (dirent* e = readdir(d))
    if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") ++n;
  closedir(d);
  return n;
}

bool writeFails(const char* path, int err) {
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd >= 0) {
    close(fd);
    return false;
  }
  return errno == err;
}

struct HostDir {
  std::string path;
  explicit HostDir(const char* base = "/tmp") {
    std::string t = std::string(base) + "/mpexec-mount-test-XXXXXX";
    path = mkdtemp(t.data()) ? t : "";
  }
  ~HostDir() { (void)!system(("rm -rf '" + path + "'").c_str()); }
};

int mountCount() {
  std::ifstream in("/proc/self/mountinfo");
  int n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

// How the unit's root is made: whole by each init (as with a user namespace), or as a copy of a root
// prepared once (as the spawner does for root). Every test below runs both ways.
enum class Root { Whole, Shared };

/// The binary's one shared root, prepared on first use; -1 with `why` set when there is none.
// In a child of the test under a seccomp filter of its own that makes `call` fail with `err` (every process
// below inherits it): what `body` returns, 2 when the filter could not be loaded, -1 when the child died.
int underFilterRefusing(int call, int err, const std::function<int()>& body) {
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    scmp_filter_ctx filter = seccomp_init(SCMP_ACT_ALLOW);
    if (!filter || seccomp_rule_add(filter, SCMP_ACT_ERRNO(err), call, 0) != 0 || seccomp_load(filter) != 0)
      _exit(2);
    _exit(body());
  }
  int status = -1;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

// A contained unit's end as underFilterRefusing's body says it: 0 when its check passed, 4 when there was no
// unit, 5 when its check failed.
int unitVerdict(std::unique_ptr<Contained> c) {
  if (!c->child) return 4;
  int status = c->wait();
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 5;
}

int sharedRoot(std::string& why) {
  static Result<SharedRoot> made = prepareSharedRoot();
  if (made) return made->ns.get();
  why = made.error().message();
  return -1;
}

class MountTest : public ::testing::TestWithParam<Root> {
 protected:
  /// Whether the test can run this way; on false, why in skip_.
  bool prepare(const Context& ctx) {
    if (GetParam() == Root::Whole) return true;
    if (!ctx.privileged()) {
      skip_ = "a shared root is for root without a user namespace only";
      return false;
    }
    std::string why;
    shared_ = sharedRoot(why);
    // Only a kernel without open_tree or mount_setattr (before 5.12) may lack it.
    if (shared_ < 0 && why.find(strerror(ENOSYS)) == std::string::npos) ADD_FAILURE() << why;
    skip_ = "no shared root here: " + why;
    return shared_ >= 0;
  }
  std::string passes(const Context& ctx, const UnitSpec& spec, std::function<int(int)> body) {
    return expectContainedPasses(ctx, spec, std::move(body), shared_);
  }
  int shared_ = -1;
  std::string skip_;
};

#define MPEXEC_NEED_ROOT(ctx) \
  MPEXEC_NEED_NAMESPACES(ctx); \
  if (!prepare(*ctx)) GTEST_SKIP() << skip_

TEST_P(MountTest, RootIsReadOnlyAndTmpIsFreshAndWritable) {
  MPEXEC_NEED_ROOT(ctx);
  HostDir host_tmp;  // something in the host's /tmp that must not show up inside
  ASSERT_FALSE(host_tmp.path.empty());
  passes(*ctx, unitSpec("mounts"), [](int fd) {
    bool ok = check(fd, writeFails("/etc/mpexec-should-not-exist", EROFS), "/etc writable");
    ok &= check(fd, writeFails("/usr/mpexec-should-not-exist", EROFS), "/usr writable");
    ok &= check(fd, entries("/tmp") == 0, "/tmp not empty: " + std::to_string(entries("/tmp")));
    int t = open("/tmp/x", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ok &= check(fd, t >= 0 && write(t, "x", 1) == 1, "/tmp not writable");
    close(t);
    // /run is a fresh tmpfs holding only mpexec's own binary (no sync directory in this spec).
    ok &= check(fd, entries("/run") == 1 && access("/run/mpexec-bin/mpexec", X_OK) == 0, "/run shows the host's");
    return ok ? 0 : 1;
  });
}

TEST_P(MountTest, ProcIsOwnAndItsKernelKnobsAreReadOnly) {
  MPEXEC_NEED_ROOT(ctx);
  passes(*ctx, unitSpec("proc"), [](int fd) {
    bool ok = check(fd, getpid() == 1, "not pid 1");
    char self[64] = {};
    ok &= check(fd, readlink("/proc/self", self, sizeof self - 1) > 0 && std::string(self) == "1",
                std::string("/proc/self -> ") + self);
    ok &= check(fd, entries("/proc") < 80, "/proc shows host pids: " + std::to_string(entries("/proc")));
    for (const char* p : {"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus"}) {
      struct statvfs sv;
      if (statvfs(p, &sv) != 0 && errno == ENOENT) continue;
      ok &= check(fd, (sv.f_flag & ST_RDONLY) != 0, std::string(p) + " not read-only");
    }
    struct statvfs proc;
    ok &= check(fd, statvfs("/proc", &proc) == 0 && !(proc.f_flag & ST_RDONLY), "/proc itself read-only");
    return ok ? 0 : 1;
  });
}

TEST_P(MountTest, DevIsMinimalAndWorks) {
  MPEXEC_NEED_ROOT(ctx);
  passes(*ctx, unitSpec("dev"), [](int fd) {
    bool ok = true;
    int n = open("/dev/null", O_WRONLY | O_CLOEXEC);
    ok &= check(fd, n >= 0 && write(n, "x", 1) == 1, "/dev/null");
    close(n);
    int z = open("/dev/zero", O_RDONLY | O_CLOEXEC);
    char c = 1;
    ok &= check(fd, z >= 0 && read(z, &c, 1) == 1 && c == 0, "/dev/zero");
    close(z);
    int u = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ok &= check(fd, u >= 0 && read(u, &c, 1) == 1, "/dev/urandom");
    close(u);
    ok &= check(fd, access("/dev/sda", F_OK) != 0 && access("/dev/mem", F_OK) != 0, "host devices visible");
    ok &= check(fd, writeFails("/dev/new-node", EROFS), "/dev writable");
    int shm = open("/dev/shm/x", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ok &= check(fd, shm >= 0, "/dev/shm not writable");
    close(shm);
    int ptmx = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    ok &= check(fd, ptmx >= 0, "/dev/ptmx");
    close(ptmx);
    return ok ? 0 : 1;
  });
}

TEST_P(MountTest, WritableOutputAndSyncDirectories) {
  MPEXEC_NEED_ROOT(ctx);
  HostDir writable, output, sync;
  ASSERT_FALSE(writable.path.empty() || output.path.empty() || sync.path.empty());
  std::ofstream(sync.path + "/sync.sock") << "socket stand-in";
  UnitSpec spec = unitSpec("binds");
  spec.policy.writable = {writable.path};
  spec.output_dir = output.path;
  spec.sync_dir = sync.path;
  std::string w = writable.path + "/from-inside", o = output.path + "/result.txt";
  passes(*ctx, spec, [&](int fd) {
    bool ok = check(fd, !writeFails(w.c_str(), 0), "writable path not writable");
    ok &= check(fd, !writeFails(o.c_str(), 0), "output dir not writable");
    ok &= check(fd, access("/run/mpexec/sync.sock", R_OK) == 0, "no /run/mpexec/sync.sock");
    // The socket is a mount point of its own: it cannot be removed or replaced.
    ok &= check(fd, unlink("/run/mpexec/sync.sock") != 0 && errno == EBUSY, "/run/mpexec/sync.sock removable");
    // Both host directories live under the host's /tmp: only they appear in the unit's /tmp.
    ok &= check(fd, entries("/tmp") == 2, "/tmp has " + std::to_string(entries("/tmp")) + " entries");
    return ok ? 0 : 1;
  });
  EXPECT_EQ(access(w.c_str(), F_OK), 0) << "write did not reach the host";
  EXPECT_EQ(access(o.c_str(), F_OK), 0);
}

// A state directory inside a writable project: the unit sees it empty and read-only, but for its own
// output directory, bound from the fd the executor made it with.
TEST_P(MountTest, HiddenDirectoryShowsOnlyTheOutputDirectory) {
  MPEXEC_NEED_ROOT(ctx);
  HostDir project;
  ASSERT_FALSE(project.path.empty());
  std::string state = project.path + "/.mpexec", out = state + "/runs/r1/out/u1";
  ASSERT_EQ(system(("mkdir -p " + out + " " + state + "/runs/r1/out/u2 " + state + "/runs/r1/logs").c_str()), 0);
  std::ofstream(state + "/runs/r1/logs/other.log") << "another unit's log";
  UniqueFd out_fd(open(out.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(out_fd);
  UnitSpec spec = unitSpec("hidden");
  spec.policy.writable = {project.path};
  spec.output_dir = out;
  spec.output_dir_fd = out_fd.get();
  spec.hidden = {state, "/var/empty/not-there"};
  std::string mine = out + "/mine", logs = state + "/runs/r1/logs", other = state + "/runs/r1/out/u2";
  std::string beside = project.path + "/beside", planted = state + "/planted";
  passes(*ctx, spec, [&](int fd) {
    bool ok = check(fd, !writeFails(mine.c_str(), 0), "own output directory not writable");
    ok &= check(fd, !writeFails(beside.c_str(), 0), "the writable project lost its bind");
    ok &= check(fd, access(logs.c_str(), F_OK) != 0 && errno == ENOENT, "logs visible");
    ok &= check(fd, access(other.c_str(), F_OK) != 0 && errno == ENOENT, "another unit's output visible");
    ok &= check(fd, writeFails(planted.c_str(), EROFS), "state directory writable");
    ok &= check(fd, entries(state.c_str()) == 1, "state directory has " + std::to_string(entries(state.c_str())));
    return ok ? 0 : 1;
  });
  EXPECT_EQ(access(mine.c_str(), F_OK), 0) << "the output did not reach the host";
  EXPECT_NE(access(planted.c_str(), F_OK), 0);
}

TEST_P(MountTest, HostMountNamespaceIsUntouched) {
  MPEXEC_NEED_ROOT(ctx);
  HostDir output;
  ASSERT_FALSE(output.path.empty());
  UnitSpec spec = unitSpec("untouched");
  spec.output_dir = output.path;  // a bind source: copied from the host's namespace with the shared root
  struct stat before, after;
  ASSERT_EQ(stat("/tmp", &before), 0);
  int mounts = mountCount();
  passes(*ctx, spec, [](int) { return 0; });
  ASSERT_EQ(stat("/tmp", &after), 0);
  EXPECT_EQ(before.st_dev, after.st_dev);
  EXPECT_EQ(before.st_ino, after.st_ino);
  EXPECT_EQ(mountCount(), mounts) << "the unit's set-up left a mount in the host's namespace";
}

// What a unit writes in its own /tmp, /dev/shm and /run reaches neither the next unit nor the shared root.
TEST_P(MountTest, NothingOfAUnitReachesTheNext) {
  MPEXEC_NEED_ROOT(ctx);
  passes(*ctx, unitSpec("first"), [](int fd) {
    bool ok = true;
    for (const char* p : {"/tmp/left", "/dev/shm/left", "/run/left"}) ok &= check(fd, !writeFails(p, 0), p);
    return ok ? 0 : 1;
  });
  passes(*ctx, unitSpec("second"), [](int fd) {
    bool ok = true;
    for (const char* p : {"/tmp/left", "/dev/shm/left", "/run/left"})
      ok &= check(fd, access(p, F_OK) != 0 && errno == ENOENT, std::string(p) + " left by the first unit");
    return ok ? 0 : 1;
  });
  if (shared_ < 0) return;
  // The shared root itself, entered as it is: /tmp is the host's (read-only), /dev/shm and /run are empty
  // mount points or the host's, and none holds the first unit's file.
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (setns(shared_, CLONE_NEWNS) != 0) _exit(2);
    for (const char* p : {"/tmp/left", "/dev/shm/left", "/run/left"})
      if (access(p, F_OK) == 0) _exit(3);
    _exit(writeFails("/dev/shm/x", EROFS) ? 0 : 4);  // read-only, as every unit's copy of it is
  }
  int status = -1;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
}

// A security module may let root unshare and mount but refuse setns: the init then builds its whole root.
// Here a seccomp filter of the test's, which every process below inherits, refuses setns with EPERM.
TEST(SharedRootTest, RefusedSetnsFallsBackToTheWholeRoot) {
  MPEXEC_NEED_NAMESPACES(ctx);
  if (!ctx->privileged()) GTEST_SKIP() << "a shared root is for root without a user namespace only";
  std::string why;
  int shared = sharedRoot(why);
  if (shared < 0) GTEST_SKIP() << "no shared root here: " << why;
  int verdict = underFilterRefusing(SCMP_SYS(setns), EPERM, [&] {
    if (setns(shared, CLONE_NEWNS) == 0 || errno != EPERM) return 3;
    return unitVerdict(contain(*ctx, unitSpec("refused"), [](int) {
      bool ok = writeFails("/etc/mpexec-should-not-exist", EROFS) && entries("/tmp") == 0 && !writeFails("/tmp/x", 0);
      ok = ok && getpid() == 1 && entries("/run") == 1;
      return ok ? 0 : 1;
    }, shared));
  });
  EXPECT_EQ(verdict, 0) << "(2: no filter, 3: setns not refused, 4: no unit, 5: the unit's checks failed)";
}

// Without open_tree (before Linux 5.2, or refused by a filter), /proc's knobs are bound onto themselves and
// made read-only as before. Here a seccomp filter of the test's, which every process below inherits, refuses
// open_tree with ENOSYS; the unit builds its whole root, which needs no open_tree.
TEST(ProcTest, WithoutOpenTreeTheKernelKnobsAreStillReadOnly) {
  MPEXEC_NEED_NAMESPACES(ctx);
  int verdict = underFilterRefusing(SCMP_SYS(open_tree), ENOSYS, [&] {
    return unitVerdict(contain(*ctx, unitSpec("no-open-tree"), [](int) {
      int read_only = 0;
      for (const char* p : {"/proc/sys", "/proc/irq"}) {
        struct statvfs sv;
        if (statvfs(p, &sv) == 0 && (sv.f_flag & ST_RDONLY)) ++read_only;
      }
      struct statvfs proc;
      bool ok = read_only == 2 && statvfs("/proc", &proc) == 0 && !(proc.f_flag & ST_RDONLY);
      return ok ? 0 : 1;
    }));
  });
  EXPECT_EQ(verdict, 0) << "(2: no filter, 4: no unit, 5: a knob writable or /proc read-only)";
}

// shareRun: the shared root's /run holds the socket and mpexec, each the host's file, and nothing there can
// be written, removed or added; a second sync directory replaces the first rather than stacking on it.
TEST(SharedRootTest, SharedRunHoldsTheSocketAndMpexecReadOnly) {
  MPEXEC_NEED_NAMESPACES(ctx);
  if (!ctx->privileged()) GTEST_SKIP() << "a shared root is for root without a user namespace only";
  auto root = prepareSharedRoot();
  if (!root) GTEST_SKIP() << "no shared root here: " << root.error().message();
  HostDir first, second;
  ASSERT_FALSE(first.path.empty() || second.path.empty());
  UniqueFd socks[2];
  for (int i = 0; i < 2; ++i) {
    socks[i].reset(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s/sync.sock", (i ? second : first).path.c_str());
    ASSERT_EQ(bind(socks[i].get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(listen(socks[i].get(), 4), 0);
  }
  const std::string exe = ctx->exe();
  struct stat exe_st, sock_st[2];
  ASSERT_EQ(stat(exe.c_str(), &exe_st), 0);
  ASSERT_EQ(stat((first.path + "/sync.sock").c_str(), &sock_st[0]), 0);
  ASSERT_EQ(stat((second.path + "/sync.sock").c_str(), &sock_st[1]), 0);
  int mounts = mountCount();
  // In a child in the shared root, as a copy of it (each unit's): exit 0 when every check passed, else the
  // number of the first that failed.
  auto inside = [&](const struct stat& sock) {
    pid_t pid = fork();
    if (pid == 0) {
      if (setns(root->ns.get(), CLONE_NEWNS) != 0 || unshare(CLONE_NEWNS) != 0) _exit(20);
      struct statvfs sv;
      if (statvfs("/run", &sv) != 0 || !(sv.f_flag & ST_RDONLY)) _exit(21);
      struct stat st;
      if (stat("/run/mpexec/sync.sock", &st) != 0 || st.st_dev != sock.st_dev || st.st_ino != sock.st_ino) _exit(22);
      if (stat(kExeInside, &st) != 0 || st.st_dev != exe_st.st_dev || st.st_ino != exe_st.st_ino) _exit(23);
      if (entries("/run") != 2 || entries("/run/mpexec") != 1 || entries("/run/mpexec-bin") != 1) _exit(24);
      // The init does this much as root with every capability: a command, which has none, does less.
      if (!writeFails("/run/planted", EROFS) || !writeFails("/run/mpexec/planted", EROFS)) _exit(25);
      if (unlink(kSyncSocketInside) == 0 || rename(kExeInside, "/run/mpexec-bin/moved") == 0) _exit(26);
      if (open(kExeInside, O_WRONLY | O_CLOEXEC) >= 0) _exit(27);
      int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      snprintf(addr.sun_path, sizeof addr.sun_path, "%s", kSyncSocketInside);
      if (connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) _exit(28);
      _exit(0);
    }
    int status = -1;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + status;
  };
  ASSERT_TRUE(shareRun(*root, exe, first.path));
  EXPECT_EQ(inside(sock_st[0]), 0) << "20: setns, 21: /run writable, 22: not the socket, 23: not mpexec, "
                                      "24: more in /run, 25: a file made, 26: removed or renamed, 27: mpexec "
                                      "writable, 28: no connection";
  EXPECT_TRUE(shareRun(*root, exe, first.path));
  ASSERT_TRUE(shareRun(*root, exe, second.path));
  EXPECT_EQ(inside(sock_st[1]), 0);
  EXPECT_EQ(mountCount(), mounts) << "shareRun left a mount in the host's namespace";
  // The last run's /run was replaced, not stacked: the copy of each unit holds one /run of three mounts.
  pid_t pid = fork();
  if (pid == 0) {
    if (setns(root->ns.get(), CLONE_NEWNS) != 0) _exit(20);
    std::ifstream in("/proc/self/mountinfo");
    int under_run = 0;
    for (std::string line; std::getline(in, line);)
      if (line.find(" /run ") != std::string::npos || line.find(" /run/") != std::string::npos) ++under_run;
    _exit(under_run == 3 ? 0 : 30 + under_run);
  }
  int status = -1;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status << " (30 + mounts at /run)";
}

INSTANTIATE_TEST_SUITE_P(Both, MountTest, ::testing::Values(Root::Whole, Root::Shared),
                         [](const ::testing::TestParamInfo<Root>& info) {
                           return info.param == Root::Whole ? std::string("Whole") : std::string("Shared");
                         });

}  // namespace
}  // namespace mpexec::sandbox
