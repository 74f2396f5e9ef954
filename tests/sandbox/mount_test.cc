#include "sandbox/mount.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <fstream>

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

TEST(MountTest, RootIsReadOnlyAndTmpIsFreshAndWritable) {
  MPEXEC_NEED_NAMESPACES(ctx);
  HostDir host_tmp;  // something in the host's /tmp that must not show up inside
  ASSERT_FALSE(host_tmp.path.empty());
  expectContainedPasses(*ctx, unitSpec("mounts"), [](int fd) {
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

TEST(MountTest, ProcIsOwnAndItsKernelKnobsAreReadOnly) {
  MPEXEC_NEED_NAMESPACES(ctx);
  expectContainedPasses(*ctx, unitSpec("proc"), [](int fd) {
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

TEST(MountTest, DevIsMinimalAndWorks) {
  MPEXEC_NEED_NAMESPACES(ctx);
  expectContainedPasses(*ctx, unitSpec("dev"), [](int fd) {
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

TEST(MountTest, WritableOutputAndSyncDirectories) {
  MPEXEC_NEED_NAMESPACES(ctx);
  HostDir writable, output, sync;
  ASSERT_FALSE(writable.path.empty() || output.path.empty() || sync.path.empty());
  std::ofstream(sync.path + "/sync.sock") << "socket stand-in";
  UnitSpec spec = unitSpec("binds");
  spec.policy.writable = {writable.path};
  spec.output_dir = output.path;
  spec.sync_dir = sync.path;
  std::string w = writable.path + "/from-inside", o = output.path + "/result.txt";
  expectContainedPasses(*ctx, spec, [&](int fd) {
    bool ok = check(fd, !writeFails(w.c_str(), 0), "writable path not writable");
    ok &= check(fd, !writeFails(o.c_str(), 0), "output dir not writable");
    ok &= check(fd, access("/run/mpexec/sync.sock", R_OK) == 0, "no /run/mpexec/sync.sock");
    ok &= check(fd, writeFails("/run/mpexec/other", EROFS), "/run/mpexec writable");
    // Both host directories live under the host's /tmp: only they appear in the unit's /tmp.
    ok &= check(fd, entries("/tmp") == 2, "/tmp has " + std::to_string(entries("/tmp")) + " entries");
    return ok ? 0 : 1;
  });
  EXPECT_EQ(access(w.c_str(), F_OK), 0) << "write did not reach the host";
  EXPECT_EQ(access(o.c_str(), F_OK), 0);
}

TEST(MountTest, HostMountNamespaceIsUntouched) {
  MPEXEC_NEED_NAMESPACES(ctx);
  struct stat before, after;
  ASSERT_EQ(stat("/tmp", &before), 0);
  expectContainedPasses(*ctx, unitSpec("untouched"), [](int) { return 0; });
  ASSERT_EQ(stat("/tmp", &after), 0);
  EXPECT_EQ(before.st_dev, after.st_dev);
  EXPECT_EQ(before.st_ino, after.st_ino);
}

}  // namespace
}  // namespace mpexec::sandbox
