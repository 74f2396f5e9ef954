#include "sandbox/spawner.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <optional>

#include "sandbox/caps.h"
#include "sandbox/cgroup.h"
#include "sandbox/contain.h"
#include "sandbox/context.h"
#include "sandbox/huge_code.h"
#include "sandbox/idmap.h"
#include "sandbox/init.h"
#include "sandbox/mount.h"
#include "sandbox/net.h"
#include "sandbox/pid.h"
#include "sandbox/seccomp.h"
#include "sandbox/spawner_wire.h"

namespace mpexec::sandbox {
namespace {

constexpr int kReplyTimeoutMs = 10000;  // the spawner only clones; this only catches a hang

/// Fresh network namespaces made ahead (root without user namespaces only: an init in a user namespace of
/// its own could not enter one owned by ours).
class NetnsPool {
 public:
  /// Keeps up to `target` namespaces; retarget() changes it (0 drops them all).
  explicit NetnsPool(size_t target) { retarget(target); }
  void retarget(size_t target) {
    if (target > 0 && !host_ && !failed_) {
      host_.reset(open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
      // Coming back to it must work (root of a user namespace that did not make it could not): else none.
      if (host_ && setns(host_.get(), CLONE_NEWNET) != 0) {
        host_.reset();
        failed_ = true;
      }
    }
    target_ = host_ && !failed_ ? target : 0;
    if (target_ == 0) drop();
  }
  bool wanted() const { return fds_.size() < target_; }
  /// One more namespace. Any failure turns the pool off for good: the inits then unshare their own.
  void fill() {
    if (!host_ || failed_) return;
    if (unshare(CLONE_NEWNET) != 0) return off();
    // Where /proc/sys cannot be written the pool still serves; such a namespace is never recycled (the init
    // reads back multicastIsQuiet()).
    bool ok = bringUpLoopback().ok();
    if (ok) quietMulticast();
    int fd = ok ? open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC) : -1;
    if (setns(host_.get(), CLONE_NEWNET) != 0) _exit(1);  // units with network "host" need ours back
    if (fd < 0) return off();
    fds_.push_back(fd);
  }
  /// A namespace for this unit, or -1. The caller closes it.
  int take(const Context& ctx, const Policy& policy) {
    if (fds_.empty() || policy.network != Network::None || ctx.usesUserNamespace(policy)) return -1;
    int fd = fds_.back();
    fds_.pop_back();
    return fd;
  }

 private:
  void off() {
    failed_ = true;
    target_ = 0;
    drop();
  }
  void drop() {
    for (int fd : fds_) close(fd);
    fds_.clear();
  }
  size_t target_ = 0;
  bool failed_ = false;
  UniqueFd host_;
  std::vector<int> fds_;
};

/// Blanks every argument after argv[0] in this process's memory. The spawner's command line shows in every
/// unit's /proc/1/cmdline (an init is a clone of it), where mpexec's host pid (the program's argument) or its
/// whole command line (a fork of mpexec: the manifest's path, the report paths) has no business. The
/// arguments are where /proc/self/stat says (arg_start, arg_end: fields 48 and 49).
void scrubCommandLine() {
  char buf[4096];
  int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return;
  buf[n] = '\0';
  char* p = strrchr(buf, ')');  // the command name may hold blanks and parentheses
  if (!p) return;
  unsigned long long field[52] = {};
  int k = 2;  // p is the end of field 2
  for (char* tok = strtok(p + 1, " "); tok && k < 51; tok = strtok(nullptr, " ")) field[++k] = strtoull(tok, nullptr, 10);
  char* start = reinterpret_cast<char*>(uintptr_t(field[48]));
  char* end = reinterpret_cast<char*>(uintptr_t(field[49]));
  if (!start || end <= start) return;
  char* first_end = static_cast<char*>(memchr(start, '\0', size_t(end - start)));
  if (first_end && first_end + 1 < end) memset(first_end + 1, 0, size_t(end - first_end - 1));
}

bool requestWaiting(int sock, int timeout_ms) {
  pollfd p{sock, POLLIN, 0};
  int n;
  while ((n = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR) {
  }
  return n != 0;  // an error counts as waiting: the read then reports it
}

/// What a spawner program makes before its Context comes: the shared root (nullopt: not tried), the
/// stranger's view it was built with (-1: none), and the pool.
struct MadeAhead {
  std::optional<SharedRoot> shared_root;
  UniqueFd stranger;
  NetnsPool pool{0};
};

/// The shared root, and the stranger's view it shows the host through where the kernel has idmapped
/// mounts (root only). Without a stranger's view the root is the host's, read-only, as root sees it.
void makeSharedRoot(MadeAhead& made, bool with_stranger, const std::vector<std::string>& cgroup_mounts) {
  made.stranger.reset();
  if (with_stranger) {
    auto view = strangerView();
    if (view) made.stranger = std::move(*view);
  }
  auto prepared = prepareSharedRoot(made.stranger.get(), cgroup_mounts);
  made.shared_root.emplace(prepared ? std::move(*prepared) : SharedRoot());
}

/// Each unit id's owner view (idmap.h), made the first time a unit takes the id and kept for the run.
class OwnerViews {
 public:
  int get(const Context& ctx, int32_t identity) {
    auto it = views_.find(identity);
    if (it != views_.end()) return it->second.get();
    uid_t id = ctx.unitIdBase() + uid_t(identity);
    auto view = ownerView(ctx.uid(), ctx.gid(), id, gid_t(id));
    if (!view) return -1;
    return views_.emplace(identity, std::move(*view)).first->second.get();
  }

 private:
  std::map<int32_t, UniqueFd> views_;
};

/// In a preloaded spawner's init: the unit's commands, sent by UnitProcess::sendCommands. False when mpexec
/// closed the socket or sent another unit.
bool receiveCommands(int event_fd, UnitSpec& spec) {
  auto full = awaitNext(event_fd);
  if (!full || full->spec.name != spec.name) return false;
  spec.commands = std::move(full->spec.commands);
  return true;
}

[[noreturn]] void serveRequests(const Context& ctx, int sock, size_t netns_ahead, MadeAhead made) {
  bool privileged = ctx.isolation() == Isolation::Namespaces && ctx.privileged();
  // Once here rather than 41 credential commits in every init (caps.h). A failure leaves it to the inits.
  const bool bounds_dropped = privileged && dropBoundingSet(ctx.lastCap()).ok();
  NetnsPool& pool = made.pool;
  pool.retarget(privileged ? netns_ahead : 0);
  const std::vector<std::string> cgroup_mounts = cgroupMountPoints();
  // Units with ids of their own see the host as strangers; units of root without (no idmapped mounts, no
  // spare ids) see it as root does.
  const bool own_ids = privileged && ctx.unitIds() > 0;
  // What every unit's root has in common, built once. Without it (an older kernel), each init builds its
  // whole root. One made ahead with the wrong view is made again.
  if (privileged && (!made.shared_root || (made.stranger.get() >= 0) != own_ids))
    makeSharedRoot(made, own_ids, cgroup_mounts);
  if (!privileged) {
    made.shared_root.reset();
    made.stranger.reset();
  }
  OwnerViews owner_views;
  for (;;) {
    // Idle time goes into the pool, one namespace at a time, so a request never waits for more than one.
    while (pool.wanted() && !requestWaiting(sock, 0)) pool.fill();
    std::string bytes;
    std::vector<int> fds;
    if (!receiveRequest(sock, bytes, fds)) _exit(0);  // mpexec closed its end (or broke the protocol)
    auto request = decodeSpawnRequest(bytes);
    const bool preloaded = preloadedRun() != nullptr;
    if (!request.ok() || fds.empty()) {
      Error e = request.ok() ? Error{"spawner", EPROTO, "request without an event socket"} : request.error();
      sendSpawnMessage(sock, failedMessage(e));
    } else if (preloaded && (request->spec.isolation != Isolation::Namespaces || !request->spec.commands.empty())) {
      // An init without namespaces is handed later units (runNext), and commands would stay in this memory:
      // either would let one unit's processes inherit another's.
      sendSpawnMessage(sock, failedMessage(Error{"spawner", EPROTO, "a preloaded spawner takes sandboxed units "
                                                                    "without their commands only"}));
    } else {
      UnitSpec& spec = request->spec;
      size_t next = 1;
      spec.log_dir_fd = request->has_log_dir && fds.size() > next ? fds[next++] : -1;
      spec.output_dir_fd = request->has_output_dir && fds.size() > next ? fds[next++] : -1;
      InitChannel ch;
      ch.event_fd = ch.report_fd = fds[0];
      ch.cgroup_dirs = std::move(request->cgroup_dirs);
      ch.netns_fd = spec.isolation == Isolation::Namespaces ? pool.take(ctx, spec.policy) : -1;
      ch.cgroup_mounts = cgroup_mounts;
      ch.bounding_set_dropped = bounds_dropped;
      if (spec.isolation == Isolation::Namespaces && !ctx.usesUserNamespace(spec.policy) && made.shared_root) {
        ch.shared_root_fd = made.shared_root->ns.get();
        ch.shared_root_note = made.shared_root->note;
      }
      if (spec.isolation == Isolation::Namespaces && own_ids && spec.identity >= 0 &&
          unsigned(spec.identity) < ctx.unitIds()) {
        ch.views.stranger = made.stranger.get();
        ch.views.owner = owner_views.get(ctx, spec.identity);
        ch.views.uid = ctx.unitIdBase() + uid_t(spec.identity);
        ch.views.gid = gid_t(ch.views.uid);
      }
      // mpexec and the sync socket, bound once in the shared root's /run rather than in each unit's own:
      // for units with a uid of their own, which could not write a /run of their own either (mount.h).
      if (ch.shared_root_fd >= 0 && ch.views.uid != 0 && shareRun(*made.shared_root, ctx.exe(), spec.sync_dir))
        ch.shared_run = spec.sync_dir;
      int event_fd = fds[0];
      RecycleKit kit;  // filled in by the init, in its own copy of this memory
      // An init of a preloaded spawner is never handed another unit: it has held this one's commands.
      spec.recycle = spec.recycle && !preloaded;
      ch.kit = preloaded ? nullptr : &kit;
      serveSpawn(ctx, spec, ch, sock, [&]() -> int {
        // Its commands come from mpexec to the init itself, never through this process.
        if (preloaded && !receiveCommands(event_fd, spec)) return 0;
        if (spec.hold && !awaitGo(event_fd, spec)) return 0;
        runInit(ctx, spec, event_fd, &kit);
      });
      if (ch.netns_fd >= 0) close(ch.netns_fd);
    }
    for (int fd : fds) close(fd);
  }
}

/// What mpexec-spawner and a preloaded spawner do once started: wait for the Context, then serve.
int serveProgram(const char* name, int sock, long parent, bool make_ahead) {
  // Dies with mpexec. Set here rather than between fork and exec (posix_spawn has no such step); if mpexec
  // died before, our parent is no longer it.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != pid_t(parent)) return 0;
  // mpexec starts us before it reads its manifest. Until the Context comes, root makes what its units will
  // want: the shared root, then one network namespace unless the Context is already there. A Context that
  // wants neither drops them.
  scrubCommandLine();
  MadeAhead made;
  if (make_ahead && geteuid() == 0) {
    makeSharedRoot(made, true, cgroupMountPoints());
    made.pool.retarget(1);
    if (!requestWaiting(sock, 0)) made.pool.fill();
  }
  char first;
  ssize_t peeked;
  while ((peeked = recv(sock, &first, 1, MSG_PEEK)) < 0 && errno == EINTR) {
  }
  if (peeked == 0) return 0;  // mpexec stopped before it had a Context (a bad manifest)
  std::string bytes;
  std::vector<int> fds;
  if (!receiveRequest(sock, bytes, fds) || !fds.empty()) {
    fprintf(stderr, "%s: no context from mpexec\n", name);
    return 2;
  }
  size_t ahead = 0;
  std::string context;
  if (!decodeStart(bytes, ahead, context)) {
    fprintf(stderr, "%s: malformed first frame from mpexec\n", name);
    return 2;
  }
  auto ctx = decodeContext(context);
  if (!ctx) {
    fprintf(stderr, "%s: %s\n", name, ctx.error().message().c_str());
    return 2;
  }
  serveRequests(**ctx, sock, ahead, std::move(made));
}

constexpr char kReady = 'R';  ///< a preloaded spawner's first byte

}  // namespace

std::string findBesideExecutable(const std::string& name, int levels_up) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return {};
  self[n] = '\0';
  std::string dir(self);
  dir.erase(dir.rfind('/') + 1);
  for (int i = 0; i < levels_up; ++i) dir += "../";
  // The build tree keeps it beside mpexec; an installed mpexec finds it in <prefix>/lib/mpexec.
  for (const std::string& candidate : {dir + name, dir + "../lib/mpexec/" + name})
    if (access(candidate.c_str(), R_OK) == 0) return candidate;
  return {};
}

std::string Spawner::findProgram(int levels_up) {
  std::string found = findBesideExecutable(kProgramName, levels_up);
  return !found.empty() && access(found.c_str(), X_OK) == 0 ? found : std::string();
}

int Spawner::programMain(int argc, char** argv) {
  // argv: <name> <mpexec's pid> <make ahead: 0|1>; the socket is fd 3, and its first frame is the
  // netns_ahead and the Context.
  const char* name = argc > 0 && argv[0] ? argv[0] : kProgramName;
  auto usage = [&] {
    fprintf(stderr, "%s: started by mpexec only (usage: %s PARENT_PID 0|1, with mpexec's socket as fd 3)\n", name,
            name);
    return 2;
  };
  char* end = nullptr;
  long parent = argc == 3 ? strtol(argv[1], &end, 10) : -1;
  if (argc != 3 || *argv[1] == '\0' || *end != '\0' || parent < 0 || parent > INT_MAX) return usage();
  std::string make_ahead = argv[2];
  if (make_ahead != "0" && make_ahead != "1") return usage();
  int type = 0;
  socklen_t len = sizeof type;
  if (getsockopt(kProgramSocket, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) return usage();
  // Each init runs this program's code: on a huge page, a clone maps it all at once (huge_code.h). Where the
  // kernel gives none, or a profiler needs the code's symbols, the file's pages stay.
  const char* small = getenv("MPEXEC_SPAWNER_SMALL_PAGES");
  if (!small || std::strcmp(small, "1") != 0) (void)moveCodeToHugePages();
  return serveProgram(name, kProgramSocket, parent, make_ahead == "1");
}

int Spawner::servePreloaded(int sock, long parent, bool make_ahead, PreloadedRun run) {
  int type = 0;
  socklen_t len = sizeof type;
  if (run == nullptr || getsockopt(sock, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) return 2;
  setPreloadedRun(run);
  while (send(sock, &kReady, 1, MSG_NOSIGNAL) < 0 && errno == EINTR) {
  }
  return serveProgram("mpexec preloaded spawner", sock, parent, make_ahead);
}

namespace {

/// Starts `path` as `argv` with mpexec's pid and make_ahead appended, the socket as fd 3 and
/// `env` (null: mpexec's); with `quiet`, stdin and stdout on /dev/null and the cwd /.
Result<std::pair<pid_t, UniqueFd>> startProgram(const std::string& path, std::vector<std::string> argv, bool make_ahead, char* const* env,
                                                bool quiet) {
  argv.push_back(std::to_string(getpid()));
  argv.push_back(make_ahead ? "1" : "0");
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return sysError("socketpair", "spawner");
  UniqueFd mine(sv[0]), theirs(sv[1]);
  // posix_spawn (a vfork, then exec): mpexec's ~90 mappings are not copied only to be dropped by the exec,
  // and mpexec takes no copy-on-write faults meanwhile. The program's socket is fd 3, without close-on-exec;
  // every other fd above 2 is closed; its own process group, so the terminal's Ctrl-C goes to mpexec alone.
  // It sets PDEATHSIG itself.
  int fd = theirs.get();
  UniqueFd moved;
  if (fd == Spawner::kProgramSocket) {  // dup2 onto itself would keep close-on-exec
    moved.reset(fcntl(fd, F_DUPFD_CLOEXEC, Spawner::kProgramSocket + 1));
    fd = moved.get();
  }
  std::vector<char*> args;
  for (std::string& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  if (quiet) {
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addchdir_np(&actions, "/");  // nothing of the caller's directory, ever
  }
  posix_spawn_file_actions_adddup2(&actions, fd, Spawner::kProgramSocket);
  posix_spawn_file_actions_addclosefrom_np(&actions, Spawner::kProgramSocket + 1);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid = -1;
  int err = fd < 0 ? errno : posix_spawn(&pid, path.c_str(), &actions, &attr, args.data(), env ? env : environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (err != 0) return Error{"spawner", err, "cannot start " + path};
  return std::make_pair(pid, std::move(mine));
}

}  // namespace

Result<std::unique_ptr<Spawner>> Spawner::launch(const std::string& program, bool make_ahead) {
  if (program.empty()) return std::unique_ptr<Spawner>(new Spawner(-1, UniqueFd()));
  // argv[0] is the name: /proc/1/cmdline of every unit shows it (scrubCommandLine).
  auto started = startProgram(program, {kProgramName}, make_ahead, nullptr, false);
  if (!started) return started.error();
  auto s = std::unique_ptr<Spawner>(new Spawner(started->first, std::move(started->second)));
  s->program_ = program;
  return s;
}

Result<std::unique_ptr<Spawner>> Spawner::launchPreloaded(const std::vector<std::string>& argv,
                                                          const std::vector<std::string>& env) {
  if (argv.empty()) return Error{"spawner", EINVAL, "no preloaded interpreter"};
  std::vector<char*> envp;
  for (const std::string& kv : env) envp.push_back(const_cast<char*>(kv.c_str()));
  envp.push_back(nullptr);
  auto started = startProgram(argv[0], argv, geteuid() == 0, envp.data(), true);
  if (!started) return started.error();
  auto s = std::unique_ptr<Spawner>(new Spawner(started->first, std::move(started->second)));
  s->program_ = argv[0];
  s->preloaded_ = true;
  return s;
}

bool Spawner::awaitReady(int timeout_ms) {
  if (ready_ || !preloaded_) return ready_ || !preloaded_;
  if (!sock_ || !requestWaiting(sock_.get(), timeout_ms)) return false;
  char byte = 0;
  ssize_t n;
  while ((n = recv(sock_.get(), &byte, 1, MSG_DONTWAIT)) < 0 && errno == EINTR) {
  }
  ready_ = n == 1 && byte == kReady;
  return ready_;
}

std::optional<bool> Spawner::readyNow() {
  if (!ready_ && preloaded_ && sock_ && !requestWaiting(sock_.get(), 0)) return std::nullopt;
  return awaitReady(0);
}

Result<void> Spawner::serve(const Context& ctx, int netns_ahead) {
  if (ctx_) return Error{"spawner", EALREADY, "already serving"};
  size_t ahead = size_t(std::clamp(netns_ahead, 0, 4096));
  if (pid_ < 0) {
    // No program: a fork of mpexec serves, with the Context it already has.
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return sysError("socketpair", "spawner");
    UniqueFd mine(sv[0]), theirs(sv[1]);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return sysError("fork", "spawner");
    if (pid == 0) {
      // Dies with mpexec; its own process group, as a program would be.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(0);
      setpgid(0, 0);
      scrubCommandLine();
      int fd = theirs.get();
      if (fd > 3) syscall(SYS_close_range, 3, fd - 1, 0);
      syscall(SYS_close_range, fd + 1, ~0u, 0);
      serveRequests(ctx, fd, ahead, MadeAhead{});
    }
    pid_ = pid;
    sock_ = std::move(mine);
  } else {
    if (!sendRequest(sock_.get(), encodeStart(ctx, ahead), {})) {
      sock_.reset();
      return Error{"spawner", EPIPE, "cannot start " + program_};
    }
  }
  ctx_ = &ctx;
  return {};
}

Result<std::unique_ptr<Spawner>> Spawner::start(const Context& ctx, int netns_ahead, const std::string& program) {
  auto s = launch(program);
  if (!s) return s.error();
  auto served = (*s)->serve(ctx, netns_ahead);
  if (!served) return served.error();
  return s;
}

Spawner::~Spawner() {
  if (pid_ < 0) return;
  // Launched but never given its Context (the run stopped at its manifest), the program still exits on its
  // own: a SIGKILL would orphan the helper that builds the shared root, which then outlives mpexec for the
  // milliseconds its mount namespace takes to go.
  sock_.reset();
  int status;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
}

Result<UnitProcess> Spawner::spawn(const UnitSpec& spec) {
  if (!ctx_ || !sock_) return Error{"spawner", EPIPE, "the spawner process is gone"};
  std::unique_ptr<UnitCgroupDirs> cgroup;
  if (spec.isolation == Isolation::Namespaces && ctx_->cgroups()) {
    auto made = ctx_->cgroups()->createUnit(spec.name, spec.policy);
    if (!made) return made.error();
    cgroup = std::move(*made);
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return sysError("socketpair");
  UniqueFd events(sv[0]), child_end(sv[1]);
  std::vector<int> fds{child_end.get()};
  if (spec.log_dir_fd >= 0) fds.push_back(spec.log_dir_fd);
  if (spec.output_dir_fd >= 0) fds.push_back(spec.output_dir_fd);
  std::string bytes;
  if (preloaded_) {
    if (spec.isolation != Isolation::Namespaces) return Error{"spawner", EINVAL, "a preloaded spawner runs sandboxed units only"};
    // Without its commands: what they are given (the environment with the unit's token) goes to the init
    // alone (sendCommands below), never into the memory of the process every later init is cloned from.
    UnitSpec skeleton = spec;
    skeleton.commands.clear();
    skeleton.recycle = false;
    bytes = encodeSpawnRequest(skeleton, cgroup ? cgroup->dirs() : std::vector<std::string>{});
  } else {
    bytes = encodeSpawnRequest(spec, cgroup ? cgroup->dirs() : std::vector<std::string>{});
  }
  auto lost = [&](int err, const char* what) {
    // Out of step with the spawner from here on: end it, so that every later unit fails clearly too.
    sock_.reset();
    kill(pid_, SIGKILL);
    return Error{"spawner", err, what};
  };
  if (!sendRequest(sock_.get(), bytes, fds)) return lost(EPIPE, "the spawner process is gone");
  child_end.reset();
  auto child = receiveCloned(sock_.get(), kReplyTimeoutMs);
  if (!child) {
    // A transport failure (EOF, a reset, a timeout), not a refusal the spawner reported.
    const Error& e = child.error();
    if (e.call == "sandbox handshake" || e.detail == "sandbox handshake")
      return lost(e.err, "no reply from the spawner process");
    return child.error();
  }
  child->cgroup = std::move(cgroup);
  UnitProcess unit = adoptUnit(spec.isolation, std::move(child.value()), std::move(events));
  // An init that is gone already (its set-up failed) has its SetupFailed in the socket: nothing to add.
  if (preloaded_) (void)unit.sendCommands(spec);
  return unit;
}

bool Spawner::recycle(UnitProcess& done, const UnitSpec& spec) {
  if (!ctx_ || preloaded_ || !done.recyclable()) return false;
  std::unique_ptr<UnitCgroupDirs> cgroup;
  if (ctx_->cgroups()) {
    auto made = ctx_->cgroups()->createUnit(spec.name, spec.policy);
    if (!made) return false;
    cgroup = std::move(*made);
  }
  return done.recycle(spec, std::move(cgroup));
}

}  // namespace mpexec::sandbox
