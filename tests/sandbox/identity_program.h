#pragma once
// The identity suite's program (tests/sandbox/identity_test.cc), compiled at test time and run inside units.
//
//   identity   prints every observation a unit can make of the identity of its namespaces, its init and
//              what they are made of, one "name=value" per line, or "name=refused:<errno name>" where the
//              kernel or the sandbox refused it. Names starting with "shape." are not identities but what a
//              unit alone can read of its sandbox's age (the order of namespace ids): the suite compares
//              those with a unit in a new sandbox, the others between two consecutive units. Names starting
//              with "coarse." are times in hundredths of a second (when lo's addresses were added): two
//              namespaces made within the same 10 ms share them, so they are printed but name nothing.
//              Names starting with "reused." are namespace inode numbers, which the kernel hands out lowest
//              free first: a unit in a new sandbox often reads the number the last unit's namespace had.
//
// It always exits 0: an observation that fails is an observation.

namespace mpexec::test::escape {

inline constexpr const char* kIdentityC = R"C(
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/if_addr.h>
#include <linux/neighbour.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NSIO 0xb7
#define NS_GET_USERNS _IO(NSIO, 0x1)
#define NS_GET_PARENT _IO(NSIO, 0x2)
#define NS_GET_MNTNS_ID _IOR(NSIO, 0x5, uint64_t)
#define NS_GET_ID _IOR(NSIO, 0xd, uint64_t)
#define PIDFS_IOCTL_MAGIC 0xFF
#define PIDFD_GET_INFO_NR 11
#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif
#ifndef SIOCGSKNS
#define SIOCGSKNS 0x894C
#endif
#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x00004000U
#endif

static const char *nss[] = {"net", "pid", "ipc", "uts", "mnt", "cgroup", "user", "time",
                            "pid_for_children", "time_for_children"};

static void refused(const char *name) { printf("%s=refused:%s\n", name, strerrorname_np(errno)); }

static void hex(const char *name, const unsigned char *p, size_t n) {
  printf("%s=", name);
  for (size_t i = 0; i < n; i++) printf("%02x", p[i]);
  printf("\n");
}

static void inode(const char *name, int fd) {
  struct stat st;
  if (fd < 0) { refused(name); return; }
  if (fstat(fd, &st) != 0) { refused(name); return; }
  printf("%s=%llu:%llu\n", name, (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
}

static int ns_id(const char *name, int fd, unsigned long req, uint64_t *out) {
  uint64_t v = 0;
  if (fd < 0 || ioctl(fd, req, &v) != 0) { refused(name); return -1; }
  printf("%s=%llu\n", name, (unsigned long long)v);
  if (out) *out = v;
  return 0;
}

static void handle(const char *name, int dirfd, const char *path, int flags) {
  struct { struct file_handle h; unsigned char bytes[128]; } fh;
  fh.h.handle_bytes = sizeof fh.bytes;
  int mnt = -1;
  if (name_to_handle_at(dirfd, path, &fh.h, &mnt, flags) != 0) { refused(name); return; }
  hex(name, fh.h.f_handle, fh.h.handle_bytes);
}

// A pidfd's identity: its pidfs inode, its file handle, PIDFD_GET_INFO, and the namespaces it leads to.
static void pidfd_observations(const char *who, int pid) {
  char name[128];
  snprintf(name, sizeof name, "%s.pidfd.inode", who);
  int fd = (int)syscall(SYS_pidfd_open, pid, 0);
  inode(name, fd);
  if (fd < 0) return;
  snprintf(name, sizeof name, "%s.pidfd.handle", who);
  handle(name, fd, "", AT_EMPTY_PATH);
  struct { uint64_t mask, cgroupid; uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
           int32_t exit_code; uint32_t coredump_mask, pad; } info;
  memset(&info, 0, sizeof info);
  info.mask = 1 | 4;  // PIDFD_INFO_PID | PIDFD_INFO_CGROUPID
  snprintf(name, sizeof name, "%s.pidfd.info.cgroupid", who);
  if (ioctl(fd, _IOWR(PIDFS_IOCTL_MAGIC, PIDFD_GET_INFO_NR, info), &info) != 0) refused(name);
  else printf("%s=%llu\n", name, (unsigned long long)info.cgroupid);
  for (int i = 1; i <= 10; i++) {
    snprintf(name, sizeof name, "reused.%s.pidfd.ns%d", who, i);
    int ns = ioctl(fd, _IO(PIDFS_IOCTL_MAGIC, i), 0);
    inode(name, ns);
    if (ns < 0) continue;
    snprintf(name, sizeof name, "%s.pidfd.ns%d.id", who, i);
    ns_id(name, ns, NS_GET_ID, NULL);
    close(ns);
  }
  close(fd);
}

// RTM_GETADDR of every address: when each was added (IFA_CACHEINFO, in hundredths of a second since boot).
static void address_times(void) {
  int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (s < 0) { refused("lo.addresses"); return; }
  struct { struct nlmsghdr h; struct ifaddrmsg m; } req = {0};
  req.h.nlmsg_len = sizeof req;
  req.h.nlmsg_type = RTM_GETADDR;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.m.ifa_family = AF_UNSPEC;
  if (send(s, &req, sizeof req, 0) < 0) { refused("lo.addresses"); close(s); return; }
  char buf[16384];
  int k = 0;
  for (;;) {
    ssize_t n = recv(s, buf, sizeof buf, 0);
    if (n <= 0) break;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) { close(s); return; }
      struct ifaddrmsg *m = NLMSG_DATA(h);
      int len = IFA_PAYLOAD(h);
      for (struct rtattr *a = IFA_RTA(m); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        if (a->rta_type != IFA_CACHEINFO) continue;
        struct ifa_cacheinfo *ci = RTA_DATA(a);
        printf("coarse.lo.address%d.family%d.added=%u\n", k, m->ifa_family, ci->cstamp);
        printf("coarse.lo.address%d.family%d.updated=%u\n", k, m->ifa_family, ci->tstamp);
        k++;
      }
    }
  }
  close(s);
}

// RTM_GETNEIGHTBL: each neighbour table's parameters per device, among them the reachable time, drawn at
// random when a namespace's device is made.
static void neighbour_tables(void) {
  int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (s < 0) { refused("neigh.tables"); return; }
  struct { struct nlmsghdr h; struct ndtmsg m; } req = {0};
  req.h.nlmsg_len = sizeof req;
  req.h.nlmsg_type = RTM_GETNEIGHTBL;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.m.ndtm_family = AF_UNSPEC;
  if (send(s, &req, sizeof req, 0) < 0) { refused("neigh.tables"); close(s); return; }
  char buf[32768];
  for (;;) {
    ssize_t n = recv(s, buf, sizeof buf, 0);
    if (n <= 0) break;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) { close(s); return; }
      struct ndtmsg *m = NLMSG_DATA(h);
      int len = h->nlmsg_len - NLMSG_LENGTH(sizeof *m);
      const char *table = "?";
      uint32_t ifindex = 0;
      uint64_t reachable = 0;
      int have = 0;
      for (struct rtattr *a = (struct rtattr *)((char *)m + NLMSG_ALIGN(sizeof *m)); RTA_OK(a, len);
           a = RTA_NEXT(a, len)) {
        if (a->rta_type == NDTA_NAME) table = RTA_DATA(a);
        if (a->rta_type != NDTA_PARMS) continue;
        int plen = RTA_PAYLOAD(a);
        for (struct rtattr *p = RTA_DATA(a); RTA_OK(p, plen); p = RTA_NEXT(p, plen)) {
          if (p->rta_type == NDTPA_IFINDEX) ifindex = *(uint32_t *)RTA_DATA(p);
          if (p->rta_type == NDTPA_REACHABLE_TIME) { memcpy(&reachable, RTA_DATA(p), 8); have = 1; }
        }
      }
      if (have && ifindex) printf("neigh.%s.if%u.reachable_time=%llu\n", table, ifindex, (unsigned long long)reachable);
    }
  }
  close(s);
}

static void read_line(const char *name, const char *path) {
  char buf[256] = "";
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) { refused(name); return; }
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n < 0) { refused(name); return; }
  buf[n] = 0;
  buf[strcspn(buf, "\n")] = 0;
  printf("%s=%s\n", name, buf);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  char name[128], path[64], link[64];
  uint64_t id_pid = 0, id_uts = 0, id_ipc = 0;
  int have_pid = -1, have_uts = -1, have_ipc = -1;
  for (size_t i = 0; i < sizeof nss / sizeof *nss; i++) {
    const char *ns = nss[i];
    snprintf(path, sizeof path, "/proc/self/ns/%s", ns);
    snprintf(name, sizeof name, "reused.ns.%s.link", ns);
    ssize_t n = readlink(path, link, sizeof link - 1);
    if (n < 0) refused(name);
    else printf("%s=%.*s\n", name, (int)n, link);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    snprintf(name, sizeof name, "reused.ns.%s.inode", ns);
    inode(name, fd);
    snprintf(name, sizeof name, "ns.%s.id", ns);
    uint64_t id = 0;
    int got = ns_id(name, fd, NS_GET_ID, &id);
    if (!strcmp(ns, "pid")) { id_pid = id; have_pid = got; }
    if (!strcmp(ns, "uts")) { id_uts = id; have_uts = got; }
    if (!strcmp(ns, "ipc")) { id_ipc = id; have_ipc = got; }
    if (!strcmp(ns, "mnt")) ns_id("ns.mnt.mntns_id", fd, NS_GET_MNTNS_ID, NULL);
    snprintf(name, sizeof name, "ns.%s.handle", ns);
    handle(name, AT_FDCWD, path, AT_SYMLINK_FOLLOW);
    int owner = fd >= 0 ? ioctl(fd, NS_GET_USERNS) : -1;
    snprintf(name, sizeof name, "reused.ns.%s.owner.inode", ns);
    inode(name, owner);
    snprintf(name, sizeof name, "ns.%s.owner.id", ns);
    ns_id(name, owner, NS_GET_ID, NULL);
    if (owner >= 0) close(owner);
    if (!strcmp(ns, "pid")) {
      int parent = fd >= 0 ? ioctl(fd, NS_GET_PARENT) : -1;
      inode("reused.ns.pid.parent.inode", parent);
      ns_id("ns.pid.parent.id", parent, NS_GET_ID, NULL);
      if (parent >= 0) close(parent);
    }
    if (fd >= 0) close(fd);
  }
  // The order of the ids (one counter for every namespace): one clone makes a new sandbox's UTS and IPC
  // namespaces before its pid namespace.
  if (have_pid == 0 && have_uts == 0 && have_ipc == 0) {
    printf("shape.order.uts_before_pid=%s\n", id_uts < id_pid ? "yes" : "no");
    printf("shape.order.ipc_before_pid=%s\n", id_ipc < id_pid ? "yes" : "no");
  }

  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  uint64_t cookie = 0;
  socklen_t len = sizeof cookie;
  if (getsockopt(s, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) != 0) refused("netns.cookie");
  else printf("netns.cookie=%llu\n", (unsigned long long)cookie);
  int skns = ioctl(s, SIOCGSKNS);
  inode("reused.netns.socket.inode", skns);
  ns_id("netns.socket.id", skns, NS_GET_ID, NULL);
  if (skns >= 0) close(skns);
  close(s);

  printf("ppid=%d\n", getppid());
  pidfd_observations("init", 1);
  pidfd_observations("parent", getppid());
  read_line("init.proc.stat", "/proc/1/stat");
  int proc1 = open("/proc/1", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  inode("init.proc.dir", proc1);
  if (proc1 >= 0) close(proc1);

  struct statx sx;
  if (statx(AT_FDCWD, "/", 0, STATX_MNT_ID_UNIQUE, &sx) != 0) refused("mount.root.unique_id");
  else printf("mount.root.unique_id=%llu\n", (unsigned long long)sx.stx_mnt_id);
  if (statx(AT_FDCWD, "/proc", 0, STATX_MNT_ID_UNIQUE, &sx) != 0) refused("mount.proc.unique_id");
  else printf("mount.proc.unique_id=%llu\n", (unsigned long long)sx.stx_mnt_id);
  handle("cgroup.handle", AT_FDCWD, "/sys/fs/cgroup", 0);
  handle("root.handle", AT_FDCWD, "/", 0);
  read_line("cgroup.self", "/proc/self/cgroup");

  struct stat st;
  if (stat("/sys/class/net/lo", &st) != 0) refused("sysfs.lo.inode");
  else printf("sysfs.lo.inode=%llu\n", (unsigned long long)st.st_ino);
  read_line("sysfs.lo.ifindex", "/sys/class/net/lo/ifindex");
  printf("lo.ifindex=%u\n", if_nametoindex("lo"));
  address_times();
  neighbour_tables();
  return 0;
}
)C";

}  // namespace mpexec::test::escape
