#pragma once
// The residue suite's program (tests/sandbox/residue_test.cc), compiled at test time and run inside units.
//
//   residue leave      leaves every kind of state a unit can: files in /tmp and /dev/shm, a daemon holding a
//                      listening TCP socket on 127.0.0.1:8081, an abstract Unix socket and inotify watches, a
//                      stopped process, SysV shared memory, a semaphore set and a message queue (with a
//                      message), a POSIX message queue, a changed environment, umask, rlimit and cwd
//   residue timewait   leaves a TCP socket in TIME_WAIT on 127.0.0.1:8080 (the listener closes first)
//   residue traffic    sends a UDP datagram to itself over 127.0.0.1 (the namespace's statistics move)
//   residue mcast      joins 239.1.2.3 on lo and exits at once (IGMPv3 would send its report from a timer)
//   residue lookup6    connects a UDP socket to [::1]:9 and sends nothing (IPv6 caches the route per CPU)
//   residue cpu        spends ~0.6 s of CPU (the init, its parent, sums up its children's CPU time)
//   residue view       prints what a unit sees, one "key: value" per line, with the unit's own names
//                      replaced (its output directory by OUT, its unit id by UNIT), so that the view of a unit
//                      in a recycled sandbox can be compared with a new sandbox's; then every residue it
//                      finds, one "RESIDUE ..." line each, and exits 1 if there was any
//
//                      The view includes the network namespace's statistics (/proc/net/snmp, snmp6, netstat,
//                      dev, igmp, igmp6, rt6_stats, ipv6_route, read 150 ms after the start so that reports
//                      due from timers are in),
//                      and whether /proc/1 can be read.
//
// Every mode first prints "netns: <inode>" and "pidns: <inode>", which are not part of the view: the suite
// tells by them whether two units shared a sandbox.

namespace mpexec::test::escape {

inline constexpr const char* kResidueC = R"C(
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/resource.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KEY 0x5e51d0e
static const char *abstract_name = "mpexec-residue";
static int residues = 0;

static void residue(const char *what) { printf("RESIDUE %s\n", what); residues++; }

static int tcp_listener(int port) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 4) != 0) { close(s); return -1; }
  return s;
}

static int abstract_socket(int do_bind) {
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un a = {0};
  a.sun_family = AF_UNIX;
  memcpy(a.sun_path + 1, abstract_name, strlen(abstract_name));
  socklen_t len = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(abstract_name);
  int r = do_bind ? (bind(s, (struct sockaddr *)&a, len) == 0 && listen(s, 4) == 0 ? 0 : -1)
                  : connect(s, (struct sockaddr *)&a, len);
  if (r != 0) { close(s); return -1; }
  return s;
}

static void ids(void) {
  char buf[64];
  ssize_t n = readlink("/proc/self/ns/net", buf, sizeof buf - 1);
  buf[n > 0 ? n : 0] = 0;
  printf("netns: %s\n", buf);
  n = readlink("/proc/self/ns/pid", buf, sizeof buf - 1);
  buf[n > 0 ? n : 0] = 0;
  printf("pidns: %s\n", buf);
}

static int leave(void) {
  close(open("/tmp/residue-file", O_CREAT | O_WRONLY, 0644));
  close(open("/dev/shm/residue-shm", O_CREAT | O_WRONLY, 0644));
  int shm = shmget(KEY, 4096, IPC_CREAT | 0666);
  int sem = semget(KEY, 1, IPC_CREAT | 0666);
  int msg = msgget(KEY, IPC_CREAT | 0666);
  struct { long type; char text[8]; } m = {1, "hello"};
  if (msg >= 0) msgsnd(msg, &m, sizeof m.text, 0);
  struct mq_attr attr = {0, 4, 64, 0};
  mqd_t q = mq_open("/mpexec-residue", O_CREAT | O_RDWR, 0666, &attr);
  printf("left: shm %d sem %d msg %d mq %d\n", shm, sem, msg, (int)q);
  setenv("RESIDUE_ENV", "1", 1);
  umask(0);
  struct rlimit rl = {64, 64};
  setrlimit(RLIMIT_NOFILE, &rl);
  if (chdir("/tmp") != 0) perror("chdir");
  pid_t stopped = fork();
  if (stopped == 0) { raise(SIGSTOP); _exit(0); }
  int ready[2];
  if (pipe(ready) != 0) return 1;
  pid_t daemon = fork();
  if (daemon == 0) {
    setsid();
    if (fork() != 0) _exit(0);
    int l = tcp_listener(8081);
    int u = abstract_socket(1);
    int in = inotify_init1(0);
    inotify_add_watch(in, "/tmp", IN_ALL_EVENTS);
    dprintf(ready[1], "%d %d %d\n", l, u, in);
    for (;;) pause();
  }
  waitpid(daemon, NULL, 0);
  char line[64] = {0};
  close(ready[1]);
  if (read(ready[0], line, sizeof line - 1) <= 0) return 1;
  printf("daemon: listener, abstract socket, inotify %s", line);
  fflush(stdout);
  return 0;
}

static int timewait(void) {
  int l = tcp_listener(8080);
  if (l < 0) { perror("bind 8080"); return 1; }
  int c = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons(8080);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(c, (struct sockaddr *)&a, sizeof a) != 0) { perror("connect"); return 1; }
  int s = accept(l, NULL, NULL);
  close(l);
  close(s);  // the side on 127.0.0.1:8080 closes first: its socket ends in TIME_WAIT
  char b;
  (void)!read(c, &b, 1);
  close(c);
  printf("left: a TCP socket in TIME_WAIT on 127.0.0.1:8080\n");
  return 0;
}

static int traffic(void) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(s, (struct sockaddr *)&a, &len) != 0) return 1;
  if (sendto(s, "x", 1, 0, (struct sockaddr *)&a, sizeof a) != 1) { perror("sendto"); return 1; }
  char b;
  if (recv(s, &b, 1, 0) != 1) return 1;
  printf("left: a UDP datagram through lo\n");
  return 0;
}

static int mcast(void) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  struct ip_mreq m;
  m.imr_multiaddr.s_addr = inet_addr("239.1.2.3");
  m.imr_interface.s_addr = htonl(INADDR_LOOPBACK);
  if (setsockopt(s, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m) != 0) { perror("IP_ADD_MEMBERSHIP"); return 1; }
  printf("left: a membership of 239.1.2.3 on lo, just dropped\n");
  return 0;
}

static int lookup6(void) {
  int s = socket(AF_INET6, SOCK_DGRAM, 0);
  struct sockaddr_in6 a = {0};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(9);
  a.sin6_addr = in6addr_loopback;
  if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) != 0) { perror("connect [::1]:9"); return 1; }
  printf("left: a route to ::1 looked up, no packet\n");
  return 0;
}

static int cpu(void) {
  struct timespec t0, t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
  volatile unsigned long n = 0;
  do {
    for (int i = 0; i < 1000000; i++) n++;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  } while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < 600);
  printf("left: 0.6 s of CPU time\n");
  return 0;
}

/* Field `n` (1-based) of /proc/<pid>/stat, after the command name. */
static long long stat_field(const char *path, int n) {
  char buf[1024] = {0};
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t len = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[len] = 0;
  char *p = strrchr(buf, ')');
  if (!p) return -1;
  p += 2;
  for (int i = 3; i < n && p; i++) p = strchr(p, ' ') ? strchr(p, ' ') + 1 : NULL;
  return p ? atoll(p) : -1;
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void list_dir(const char *key, const char *path) {
  DIR *d = opendir(path);
  printf("%s:", key);
  if (!d) { printf(" (%s)\n", strerror(errno)); return; }
  char *names[256];
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < 256)
    if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
  closedir(d);
  qsort(names, n, sizeof *names, cmp);
  for (int i = 0; i < n; i++) printf(" %s", names[i]);
  printf("\n");
}

static void replace_all(char *s, const char *from, const char *to) {
  char out[8192] = {0};
  size_t fl = strlen(from);
  if (fl == 0) return;
  char *p = s, *hit;
  while ((hit = strstr(p, from))) {
    strncat(out, p, hit - p);
    strcat(out, to);
    p = hit + fl;
  }
  strcat(out, p);
  strcpy(s, out);
}

static int view(void) {
  const char *unit = getenv("MPEXEC_UNIT");
  const char *out = getenv("MPEXEC_OUTPUT_DIR");
  printf("pid: %d\n", (int)getpid());
  usleep(150 * 1000);
  static const char *const stats[] = {"/proc/net/snmp", "/proc/net/snmp6", "/proc/net/netstat",
                                      "/proc/net/dev", "/proc/net/igmp", "/proc/net/igmp6",
                                      "/proc/net/rt6_stats", "/proc/net/ipv6_route"};
  char line[8192];
  int lo_moved = 0;
  for (size_t i = 0; i < sizeof stats / sizeof *stats; i++) {
    FILE *f = fopen(stats[i], "r");
    while (f && fgets(line, sizeof line, f)) {
      printf("%s: %s", stats[i], line);
      unsigned long long rx = 0, tx = 0;
      if (i == 3 && sscanf(line, " lo: %*u %llu %*u %*u %*u %*u %*u %*u %*u %llu", &rx, &tx) == 2 && (rx || tx))
        lo_moved = 1;
    }
    if (f) fclose(f);
  }
  long long cutime = stat_field("/proc/1/stat", 16), cstime = stat_field("/proc/1/stat", 17);
  long long init_start = stat_field("/proc/1/stat", 22), own_start = stat_field("/proc/self/stat", 22);
  printf("/proc/1/stat: %s\n", init_start < 0 ? "hidden" : "readable");
  char host[128] = {0};
  gethostname(host, sizeof host - 1);
  char expect[160];
  snprintf(expect, sizeof expect, "mpexec-%s", unit ? unit : "");
  printf("hostname: %s\n", strcmp(host, expect) == 0 ? "mpexec-UNIT" : host);
  mode_t old = umask(022);
  printf("umask: %03o\n", (unsigned)old);
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  printf("nofile: %llu %llu\n", (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
  char cwd[512];
  printf("cwd: %s\n", getcwd(cwd, sizeof cwd) ? cwd : "?");
  printf("env RESIDUE_ENV: %s\n", getenv("RESIDUE_ENV") ? getenv("RESIDUE_ENV") : "(unset)");
  list_dir("/tmp", "/tmp");
  list_dir("/dev/shm", "/dev/shm");
  list_dir("/dev/pts", "/dev/pts");
  /* processes: every pid in /proc */
  list_dir("/proc pids", "/proc");
  FILE *f = fopen("/proc/self/cgroup", "r");
  while (f && fgets(line, sizeof line, f)) printf("cgroup: %s", line);
  if (f) fclose(f);
  f = fopen("/sys/fs/cgroup/unified/cgroup.procs", "r");
  printf("unified cgroup.procs:");
  while (f && fgets(line, sizeof line, f)) { line[strcspn(line, "\n")] = 0; printf(" %s", line); }
  printf("\n");
  if (f) fclose(f);
  /* mounts: point and type, in order, with the unit's own names replaced */
  f = fopen("/proc/self/mountinfo", "r");
  while (f && fgets(line, sizeof line, f)) {
    char point[4096], type[64];
    char *dash = strstr(line, " - ");
    if (!dash || sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1 || sscanf(dash + 3, "%63s", type) != 1) continue;
    if (out) replace_all(point, out, "OUT");
    printf("mount: %s %s\n", point, type);
  }
  if (f) fclose(f);
  f = fopen("/proc/sysvipc/shm", "r");
  int n = -1;
  while (f && fgets(line, sizeof line, f)) n++;
  if (f) fclose(f);
  printf("sysv shm objects: %d\n", n);
  /* and the residues themselves */
  if (access("/tmp/residue-file", F_OK) == 0) residue("/tmp/residue-file");
  if (access("/dev/shm/residue-shm", F_OK) == 0) residue("/dev/shm/residue-shm");
  int l = tcp_listener(8080);
  if (l < 0) { char b[128]; snprintf(b, sizeof b, "bind 127.0.0.1:8080: %s", strerror(errno)); residue(b); }
  else close(l);
  l = tcp_listener(8081);
  if (l < 0) { char b[128]; snprintf(b, sizeof b, "bind 127.0.0.1:8081: %s", strerror(errno)); residue(b); }
  else close(l);
  int u = abstract_socket(0);
  if (u >= 0) residue("the abstract socket @mpexec-residue accepts connections");
  if (shmget(KEY, 0, 0) >= 0) residue("sysv shared memory");
  if (semget(KEY, 0, 0) >= 0) residue("sysv semaphore set");
  if (msgget(KEY, 0) >= 0) residue("sysv message queue");
  mqd_t q = mq_open("/mpexec-residue", O_RDONLY);
  if (q != (mqd_t)-1) residue("posix message queue /mpexec-residue");
  if (getpid() != 2) residue("the first command's pid is not 2");
  if (lo_moved) residue("lo's packet counts are not a new namespace's");
  if (cutime > 0 || cstime > 0) residue("pid 1's children used CPU time before this unit");
  if (init_start >= 0 && own_start - init_start >= 50) residue("pid 1 started 0.5 s or more before this unit");
  if (strcmp(host, expect) != 0) residue("the hostname is not the unit's");
  return residues ? 1 : 0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  ids();
  if (argc > 1 && strcmp(argv[1], "leave") == 0) return leave();
  if (argc > 1 && strcmp(argv[1], "timewait") == 0) return timewait();
  if (argc > 1 && strcmp(argv[1], "traffic") == 0) return traffic();
  if (argc > 1 && strcmp(argv[1], "mcast") == 0) return mcast();
  if (argc > 1 && strcmp(argv[1], "cpu") == 0) return cpu();
  if (argc > 1 && strcmp(argv[1], "lookup6") == 0) return lookup6();
  if (argc > 1 && strcmp(argv[1], "view") == 0) return view();
  fprintf(stderr, "usage: residue leave|timewait|traffic|mcast|lookup6|cpu|view\n");
  return 2;
}
)C";

}  // namespace mpexec::test::escape
