#include "sandbox/init.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sandbox/contain.h"
#include "sandbox/fd_passing.h"
#include "sandbox/spawner.h"
#include "sandbox/unique_fd.h"

namespace mpexec::sandbox {
namespace {

int64_t monoNs() { return eventClockNs(); }

void sendEvent(int fd, Event ev) {
  if (ev.mono_ns == 0) ev.mono_ns = monoNs();
  // The executor may be gone; the init carries on and lets PDEATHSIG or the pid namespace end it.
  while (send(fd, &ev, sizeof ev, MSG_NOSIGNAL) < 0 && errno == EINTR) {
  }
}

void setDetail(Event& ev, const std::string& s) { snprintf(ev.detail, sizeof ev.detail, "%s", s.c_str()); }

/// How long a command may run before its Started event is sent (see runCommand). A trivial command in a
/// sandbox takes 6-26 ms from its clone to its exit here (W1 at -j2: its set-up, seccomp, the exec), never
/// under 2 ms, the bound this was first.
constexpr int64_t kStartedDelayNs = 20'000'000;

void ignoreSignal(int) {}

/// What the command's child reports through its close-on-exec pipe when it cannot exec.
struct SpawnFailure {
  int err;
  char step[64];
};

/// Finds `name` in the PATH of `env` (execvpe would use the init's own environment instead).
std::string resolveProgram(const std::string& name, const std::vector<std::string>& env) {
  if (name.find('/') != std::string::npos) return name;
  std::string path = "/usr/local/bin:/usr/bin:/bin";
  for (const auto& kv : env)
    if (kv.rfind("PATH=", 0) == 0) path = kv.substr(5);
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return name;
}

/// Creates (or empties) the log `name` in `dir` for writing. Logs live on the host, where the init is
/// privileged: it never follows a symlink there, and never truncates a file that is not a plain log of its
/// own (a hard link or a FIFO put in its place is replaced instead).
UniqueFd openLog(int dir, const char* name) {
  constexpr int kCreate = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  UniqueFd fd(openat(dir, name, kCreate, 0644));
  if (fd || errno != EEXIST) return fd;
  // Written before: the same test in a later iteration of --repeat. O_NONBLOCK: a FIFO must not block us.
  fd.reset(openat(dir, name, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  struct stat st;
  if (fd && fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1 && st.st_uid == geteuid() &&
      ftruncate(fd.get(), 0) == 0 && fcntl(fd.get(), F_SETFL, 0) == 0)
    return fd;
  fd.reset();
  if (unlinkat(dir, name, 0) != 0 && errno != ENOENT) return fd;
  fd.reset(openat(dir, name, kCreate, 0644));
  return fd;
}

[[noreturn]] void failChild(int report_fd, const char* step) {
  SpawnFailure f{errno, {}};
  snprintf(f.step, sizeof f.step, "%s", step);
  dprintf(2, "mpexec: %s: %s\n", step, strerror(f.err));
  (void)!write(report_fd, &f, sizeof f);
  _exit(127);
}

PreloadedRun preloaded_run = nullptr;

/// Whether a signal the init of a pid namespace took was sent from outside it (the executor, or the kernel:
/// a terminal's ^C) rather than by a process of the unit. A sender inside has its pid in si_pid and one
/// outside has none, but rt_sigqueueinfo writes si_pid as the sender likes (si_code SI_QUEUE) and a file
/// owner's signal (F_SETOWN, F_SETSIG) carries none: only kill() from outside (SI_USER) and the kernel's
/// own (SI_KERNEL) say where they came from, since no process may send either code to another.
bool fromOutside(const siginfo_t& info) {
  return info.si_code == SI_KERNEL || (info.si_code == SI_USER && info.si_pid == 0);
}

/// Everything the command's process needs, prepared by the init before the clone: the child shares the
/// init's memory until it execs, so it builds nothing it would have to free.
struct CommandLaunch {
  const Context* ctx;
  const UnitSpec* spec;
  const CommandSpec* cmd;
  const char* program;
  char* const* argv;
  char* const* envp;
  int log_fd;
  int report_fd;
  bool preloaded;  ///< run through preloaded_run rather than exec'd
};

/// In the command's own process, where an execve would come: what the exec would do to the process short
/// of replacing its memory (every fd but 0-2 closed, caught signals back to their default, dumpable again,
/// as an exec of a readable program makes it), then the preloaded interpreter runs the command. Returns
/// only when the interpreter declined it, the report pipe still open: the command is then exec'd.
void runPreloaded(const CommandLaunch& l) {
  unsigned report = unsigned(l.report_fd);
  if (report > 3) syscall(SYS_close_range, 3, report - 1, 0);
  syscall(SYS_close_range, report + 1, ~0U, 0);
  for (int sig = 1; sig < NSIG; ++sig) {
    struct sigaction sa {};
    if (sigaction(sig, nullptr, &sa) == 0 && sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN)
      signal(sig, SIG_DFL);
  }
  prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
  int status = preloaded_run(l.argv, l.envp, l.report_fd);
  if (status >= 0) _exit(status & 0xff);
}

/// In the command's own process: session, log, cwd, restrictions, exec.
int execCommand(void* arg) {
  const CommandLaunch& l = *static_cast<const CommandLaunch*>(arg);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGCHLD}) signal(sig, SIG_DFL);
  if (setsid() < 0) failChild(l.report_fd, "setsid");
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0 || dup2(null_fd, 0) < 0) failChild(l.report_fd, "open /dev/null");
  if (dup2(l.log_fd, 1) < 0 || dup2(l.log_fd, 2) < 0) failChild(l.report_fd, "dup2 log");
  const bool contained = l.spec->isolation == Isolation::Namespaces;
  auto step = [&](const Result<void>& r) {
    if (r.ok()) return;
    errno = r.error().err;
    failChild(l.report_fd, r.error().call.c_str());
  };
  if (contained) step(becomeCommandUser(*l.ctx, *l.spec));
  // As the user the command runs as: a directory it may not enter is its error, not the init's.
  if (chdir(l.cmd->cwd.c_str()) < 0) failChild(l.report_fd, ("chdir " + l.cmd->cwd).c_str());
  if (contained) step(restrictCommand(*l.ctx, l.spec->policy));
  if (l.preloaded) runPreloaded(l);
  execve(l.program, l.argv, l.envp);
  failChild(l.report_fd, (std::string("execve ") + l.program).c_str());
}

/// What the command's child runs on until its exec (setsid, the log, its user, seccomp, execve, and the report
/// of a failed step use a few KiB of it). One command starts at a time, and the init is suspended until it
/// has exec'd. Static rather than mapped per command: no mmap and munmap for each, and, untouched in the
/// spawner, its pages are zero-filled in an init as its child first uses them (a buffer in the init's frame
/// would be probed page by page where stack-clash protection is on). Not under AddressSanitizer, which forks.
#if !defined(__SANITIZE_ADDRESS__)
alignas(16) char command_stack[64 * 1024];
#endif

/// Starts the command like posix_spawn does: a child that shares the init's memory and runs on
/// command_stack, with the init suspended until it has exec'd or failed. No page tables are copied.
pid_t launchCommand(CommandLaunch& launch) {
  if (launch.preloaded) {
    // The interpreter runs in the child's own copy of this memory: a fork, not a child sharing it.
    pid_t pid = fork();
    if (pid == 0) _exit(execCommand(&launch));
    return pid;
  }
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer keeps shadow state per stack and cannot follow a child that runs instrumented code on
  // a stack of its own in our memory: a plain fork there.
  pid_t pid = fork();
  if (pid == 0) _exit(execCommand(&launch));
  return pid;
#else
  // The stack grows down on x86-64 and arm64.
  return clone(execCommand, command_stack + sizeof command_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &launch);
#endif
}

class Init {
 public:
  Init(const Context& ctx, const UnitSpec& spec, int event_fd, const RecycleKit* kit)
      : ctx_(ctx), spec_(spec), event_fd_(event_fd), kit_(kit) {
    sigemptyset(&waited_);
    for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGIO}) sigaddset(&waited_, sig);
    sigprocmask(SIG_BLOCK, &waited_, nullptr);
    signal(SIGPIPE, SIG_IGN);
    bool batch = false;
    for (const CommandSpec& c : spec.commands) batch |= c.role == Role::Batch;
    if (batch) {
      // The executor's messages about a batch process (BatchControl) arrive while the init waits for its
      // children: SIGIO wakes it. A handler, so that even pid 1 of a namespace gets it when unblocked.
      signal(SIGIO, ignoreSignal);
      fcntl(event_fd_, F_SETOWN, getpid());
      fcntl(event_fd_, F_SETFL, fcntl(event_fd_, F_GETFL) | O_ASYNC);
    }
  }

  /// Runs the unit; true once it is swept clean and Done is sent.
  bool run() {
    bool setup_failed = false;
    for (uint32_t i = 0; i < spec_.commands.size(); ++i) {
      const CommandSpec& cmd = spec_.commands[i];
      if (setup_failed && (cmd.role == Role::Test || cmd.role == Role::Batch)) {
        Event ev;
        ev.kind = Event::Kind::Skipped;
        ev.index = i;
        sendEvent(event_fd_, ev);
        continue;
      }
      bool ok = cmd.role == Role::Batch ? runBatch(i, cmd) : runCommand(i, cmd);
      if (!ok && cmd.role == Role::Setup) setup_failed = true;
    }
    uint32_t leaked = 0;
    if (sweep(&leaked)) {
      // Nothing of the unit is left but this process: its slot may take the next unit while the kernel
      // tears this one down (address space, mounts, namespaces).
      Event done;
      done.kind = Event::Kind::Done;
      done.leaked = leaked;
      if (spec_.isolation == Isolation::Namespaces) {
        // Whether the next unit may have this sandbox (recycle.h); the executor decides by it. Only a
        // refusal found by a check is put in words here: the common case, a sandbox that is never recycled,
        // sends its reason as it is (setupError() reads it back). Formatting it cost every init the pages of
        // strerror and printf, faulted in anew in each init's address space.
        if (!kit_ || !kit_->enabled) {
          done.err = EOPNOTSUPP;
          static constexpr char kNotRecyclable[] = "recycle\x1fnot a sandbox that can be recycled";
          static_assert(sizeof kNotRecyclable <= sizeof done.detail);
          memcpy(done.detail, kNotRecyclable, sizeof kNotRecyclable);
        } else if (Result<void> clean = checkResidue(*kit_); !clean) {
          done.err = clean.error().err ? clean.error().err : EIO;
          setDetail(done, clean.error().message());
        }
      }
      sendEvent(event_fd_, done);
      return true;
    }
    return false;
  }

 private:
  /// Runs a batch command's processes, one after another, as long as the executor sends Next.
  bool runBatch(uint32_t index, const CommandSpec& first) {
    CommandSpec current = first;
    process_ = 1;
    for (;;) {
      batch_index_ = index;
      runCommand(index, current);
      batch_index_ = kNoBatch;
      std::optional<CommandSpec> next = awaitBatchNext(index);
      if (!next) return true;
      current = std::move(*next);
    }
  }

  /// After a batch process has exited: the executor's Next (the next process, its number in process_) or
  /// End (none: go on). Reaps what the unit's processes leave meanwhile; exits on SIGTERM like waitFor.
  std::optional<CommandSpec> awaitBatchNext(uint32_t index) {
    for (;;) {
      BatchControl c;
      ssize_t n;
      while ((n = recv(event_fd_, &c, sizeof c, MSG_DONTWAIT)) < 0 && errno == EINTR) {
      }
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) return std::nullopt;  // mpexec is gone
      if (n == ssize_t(sizeof c) && c.magic == BatchControl{}.magic && c.index == index) {
        if (c.kind == BatchControl::Kind::End) return std::nullopt;
        if (c.kind == BatchControl::Kind::Next) {
          if (c.size > (uint64_t(1) << 30)) return std::nullopt;
          std::string bytes(c.size, '\0');
          for (size_t got = 0; got < bytes.size();) {
            size_t want = std::min(kNextChunk, bytes.size() - got);
            while ((n = recv(event_fd_, bytes.data() + got, want, 0)) < 0 && errno == EINTR) {
            }
            if (n != ssize_t(want)) return std::nullopt;
            got += want;
          }
          auto cmd = decodeCommand(bytes);
          if (!cmd.ok()) return std::nullopt;
          process_ = c.process;
          return std::move(cmd.value());
        }
        continue;  // a Deadline for the process that has ended
      }
      if (n > 0) continue;  // not ours: ignored
      siginfo_t info{};
      int sig = sigwaitinfo(&waited_, &info);
      // A process the last batch process left must not stop the unit between two of them.
      if (spec_.isolation == Isolation::Namespaces && !fromOutside(info) && sig != SIGCHLD) continue;
      if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
        sweep();
        _exit(1);
      }
      int status;
      if (sig == SIGCHLD)
        while (waitpid(-1, &status, WNOHANG) > 0) {
        }
    }
  }

  /// Reads every pending BatchControl; true when the running batch process's deadline moved.
  bool readControl() {
    bool moved = false;
    BatchControl c;
    ssize_t n;
    while ((n = recv(event_fd_, &c, sizeof c, MSG_DONTWAIT)) > 0 || (n < 0 && errno == EINTR)) {
      if (n != ssize_t(sizeof c) || c.magic != BatchControl{}.magic) continue;
      if (c.kind == BatchControl::Kind::Deadline && c.index == batch_index_ && c.process == process_) {
        deadline_ = c.deadline_ns;
        moved = true;
      }
    }
    return moved;
  }

  /// Runs one command to its end; returns whether it succeeded (exit 0, in time).
  bool runCommand(uint32_t index, const CommandSpec& cmd) {
    Event ev;
    ev.index = index;
    UniqueFd log = openLog(spec_.log_dir_fd, cmd.log_name.c_str());
    if (!log) return spawnFailed(index, errno, "open log " + cmd.log_name);
    int report[2];
    if (pipe2(report, O_CLOEXEC) < 0) return spawnFailed(index, errno, "pipe2");
    UniqueFd report_r(report[0]), report_w(report[1]);
    std::string program = resolveProgram(cmd.argv.empty() ? std::string() : cmd.argv[0], cmd.env);

    std::vector<char*> argv, envp;
    for (const auto& a : cmd.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    for (const auto& e : cmd.env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    CommandLaunch launch{&ctx_,        &spec_,      &cmd,          program.c_str(),
                         argv.data(), envp.data(), log.get(),     report_w.get(),
                         cmd.preload && preloaded_run != nullptr && spec_.isolation == Isolation::Namespaces};

    int64_t start = monoNs();
    pid_t pid = launchCommand(launch);
    // The command shared our memory until its exec, and its uid change may have made it dumpable again.
    if (spec_.isolation == Isolation::Namespaces) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (pid < 0) return spawnFailed(index, errno, "clone");
    report_w.reset();
    log.reset();

    SpawnFailure failure{};
    ssize_t n;
    while ((n = read(report_r.get(), &failure, sizeof failure)) < 0 && errno == EINTR) {
    }
    if (n == ssize_t(sizeof failure)) {
      waitFor(pid, INT64_MAX);
      return spawnFailed(index, failure.err, failure.step);
    }

    ev.kind = Event::Kind::Started;
    ev.mono_ns = start;  // when it started, whenever it is sent
    deadline_ = start + cmd.timeout_ms * 1'000'000;
    // A command that ends within a moment gets its Started sent together with its Exited (and the unit's
    // Done): one wake-up of mpexec instead of three, which is most of a trivial test's cost to mpexec.
    std::optional<int> status = waitFor(pid, std::min(deadline_, start + kStartedDelayNs), Wake::OnControl);
    sendEvent(event_fd_, ev);
    // A batch process's deadline moves while it runs (readControl): wait again for the one in force.
    while (!status && monoNs() < deadline_) status = waitFor(pid, deadline_, Wake::OnControl);
    bool timed_out = false;
    if (!status) {
      // SIGCONT so that a stopped tree sees the SIGTERM; SIGKILL needs no such help.
      timed_out = true;
      kill(-pid, SIGTERM);
      kill(-pid, SIGCONT);
      status = waitFor(pid, monoNs() + spec_.kill_grace_ms * 1'000'000);
      if (!status) {
        kill(-pid, SIGKILL);
        status = waitFor(pid, INT64_MAX);
      }
    }
    ev = Event{};
    ev.kind = Event::Kind::Exited;
    ev.index = index;
    ev.wait_status = status.value_or(SIGKILL);
    ev.timed_out = timed_out;
    sendEvent(event_fd_, ev);
    return !timed_out && WIFEXITED(*status) && WEXITSTATUS(*status) == 0;
  }

  bool spawnFailed(uint32_t index, int err, const std::string& step) {
    Event ev;
    ev.kind = Event::Kind::SpawnFailed;
    ev.index = index;
    ev.err = err;
    setDetail(ev, step);
    sendEvent(event_fd_, ev);
    return false;
  }

  enum class Wake { OnlyAtDeadline, OnControl };

  /// Reaps every child until `pid` ends or the deadline passes, or (Wake::OnControl) a message moved the
  /// batch process's deadline. A SIGTERM or SIGINT to the init kills the command's session at once and
  /// marks the unit as stopping.
  std::optional<int> waitFor(pid_t pid, int64_t deadline, Wake wake = Wake::OnlyAtDeadline) {
    for (;;) {
      int status;
      pid_t got;
      std::optional<int> result;
      while ((got = waitpid(-1, &status, WNOHANG)) > 0)
        if (got == pid) result = status;
      if (result) return result;
      if (got < 0 && errno == ECHILD) return std::nullopt;
      int64_t now = monoNs();
      if (now >= deadline) return std::nullopt;
      int64_t left = deadline - now;
      timespec ts{time_t(left / 1'000'000'000), long(left % 1'000'000'000)};
      siginfo_t info{};
      int sig = sigtimedwait(&waited_, &info, deadline == INT64_MAX ? nullptr : &ts);
      // The unit's commands must not be able to stop their own init.
      if (spec_.isolation == Isolation::Namespaces && !fromOutside(info)) continue;
      if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
        // The executor stops the unit (or died): nobody waits for the rest of the events.
        kill(-pid, SIGKILL);
        sweep();
        _exit(1);
      }
      if (sig == SIGIO && readControl() && wake == Wake::OnControl) return std::nullopt;
    }
  }

  /// Kills and reaps everything the unit left. In a pid namespace, kill(-1) from pid 1 reaches every
  /// process of the namespace but the init; without one, the init is a subreaper and walks its children.
  /// Kills and reaps every other process of the unit. True once none is left; then `killed` (if given)
  /// counts the processes that were still running, which the unit leaked.
  bool sweep(uint32_t* killed = nullptr) {
    // The common case, a unit that left nothing: no child at all (not even a zombie), so no descendant
    // either, and nothing to list or kill. Zombies of processes that ended by themselves are no leak.
    int status;
    pid_t got;
    while ((got = waitpid(-1, &status, WNOHANG)) > 0) {
    }
    if (got < 0 && errno == ECHILD) return true;
    // Every process left is a child of this init (orphans are reparented to it), so each one killed is
    // reaped here once: counting the reaps counts the leak.
    uint32_t reaped_total = 0;
    for (int round = 0; round < 1000; ++round) {
      std::vector<pid_t> children = spec_.isolation == Isolation::Namespaces ? std::vector<pid_t>{} : listChildren();
      if (spec_.isolation == Isolation::Namespaces) {
        kill(-1, SIGKILL);
      } else {
        for (pid_t c : children) kill(c, SIGKILL);
      }
      bool reaped = false;
      while ((got = waitpid(-1, &status, spec_.isolation == Isolation::Namespaces ? 0 : WNOHANG)) > 0) {
        reaped = true;
        ++reaped_total;
      }
      if (got < 0 && errno == ECHILD) {
        if (killed) *killed = reaped_total;
        return true;
      }
      if (!reaped) {
        // Children that are still dying: wait for the next SIGCHLD rather than spin.
        timespec ts{0, 10'000'000};
        sigtimedwait(&waited_, nullptr, &ts);
      }
    }
    return false;
  }

  static std::vector<pid_t> listChildren() {
    std::vector<pid_t> out;
    std::string path = "/proc/self/task/" + std::to_string(getpid()) + "/children";
    FILE* f = fopen(path.c_str(), "re");
    if (!f) return out;
    long pid;
    while (fscanf(f, "%ld", &pid) == 1) out.push_back(pid_t(pid));
    fclose(f);
    return out;
  }

  static constexpr uint32_t kNoBatch = UINT32_MAX;

  const Context& ctx_;
  const UnitSpec& spec_;
  int event_fd_;
  sigset_t waited_;
  int64_t deadline_ = 0;              ///< of the running command
  uint32_t batch_index_ = kNoBatch;   ///< the Batch command running, if one is
  uint32_t process_ = 0;              ///< its process number (BatchControl::process)
  const RecycleKit* kit_;
};

/// The init is a fork without exec: it holds copies of every fd of mpexec (other units' sockets, the sync
/// server's). Keep only what it uses.
void closeInheritedFds(std::vector<int> keep) {
  keep.insert(keep.end(), {0, 1, 2});
  std::sort(keep.begin(), keep.end());
  unsigned next = 0;
  for (int fd : keep) {
    if (fd < 0) continue;
    if (unsigned(fd) > next) syscall(SYS_close_range, next, unsigned(fd) - 1, 0);
    next = std::max(next, unsigned(fd) + 1);
  }
  syscall(SYS_close_range, next, ~0U, 0);
}

}  // namespace

void setPreloadedRun(PreloadedRun run) { preloaded_run = run; }
PreloadedRun preloadedRun() { return preloaded_run; }

bool awaitGo(int event_fd, UnitSpec& spec) {
  GoMessage go;
  ssize_t n;
  while ((n = recv(event_fd, &go, sizeof go, 0)) < 0 && errno == EINTR) {
  }
  if (n != ssize_t(sizeof go) || go.magic != GoMessage{}.magic) return false;
  sched_param normal{};
  sched_setscheduler(0, SCHED_OTHER, &normal);  // set up ahead at SCHED_IDLE (serveSpawn)
  const std::string slot = "MPEXEC_SLOT=" + std::to_string(go.slot);
  for (CommandSpec& c : spec.commands)
    for (std::string& kv : c.env)
      if (kv == "MPEXEC_SLOT=") kv = slot;
  return true;
}

std::optional<NextUnit> awaitNext(int event_fd) {
  NextHeader h;
  int fds[kMaxPassedFds];
  size_t nfds = 0;
  ssize_t n = receiveWithFds(event_fd, &h, sizeof h, 0, fds, &nfds);
  NextUnit next;
  for (size_t i = 0; i < nfds; ++i) {  // one: the unit's output directory
    if (i == 0) next.output_dir.reset(fds[i]);
    else close(fds[i]);
  }
  if (n != ssize_t(sizeof h) || h.magic != NextHeader{}.magic || h.size > (uint64_t(1) << 30)) return std::nullopt;
  std::string bytes(h.size, '\0');
  for (size_t got = 0; got < bytes.size();) {
    size_t want = std::min(kNextChunk, bytes.size() - got);
    while ((n = recv(event_fd, bytes.data() + got, want, 0)) < 0 && errno == EINTR) {
    }
    if (n != ssize_t(want)) return std::nullopt;
    got += want;
  }
  auto request = decodeSpawnRequest(bytes);
  if (!request.ok()) return std::nullopt;
  next.spec = std::move(request->spec);
  next.cgroup_dirs = std::move(request->cgroup_dirs);
  // runNext() sends no fd (a unit without namespaces binds nothing); recycle() sends the output directory's.
  next.spec.output_dir_fd = request->has_output_dir && next.output_dir ? next.output_dir.get() : -1;
  return next;
}

void runInit(const Context& ctx, const UnitSpec& first, int event_fd, const RecycleKit* kit) {
  std::vector<int> keep{event_fd, first.log_dir_fd};
  if (kit && kit->enabled)
    keep.insert(keep.end(), {kit->host_mnt, kit->last_pid, kit->shared_root, kit->views.stranger, kit->views.owner});
  closeInheritedFds(keep);
  const bool reusable = first.isolation == Isolation::None;
  if (reusable) prctl(PR_SET_CHILD_SUBREAPER, 1);
  std::optional<NextUnit> next;
  const UnitSpec* spec = &first;
  // A unit without namespaces has nothing of its own to tear down: once its processes are gone, this init
  // can serve the next one, which saves a process per unit (--no-sandbox). Its children, and so whatever
  // a unit leaves behind (it is their subreaper), are still one unit's at a time. A sandbox is handed on
  // only when the executor saw it checked clean, and made new where it could not be checked (recycle.h).
  const bool recycles = !reusable && kit && kit->enabled;
  while (Init(ctx, *spec, event_fd, kit).run() && (reusable || recycles)) {
    next = awaitNext(event_fd);
    if (!next) break;
    next->spec.log_dir_fd = first.log_dir_fd;
    spec = &next->spec;
    if (recycles) {
      std::string note;
      Result<void> made = recycleSandbox(ctx, *kit, *spec, next->cgroup_dirs, &note);
      Event ev = setupEvent(made, note);
      sendEvent(event_fd, ev);
      if (!made) _exit(1);
    }
  }
  _exit(0);
}

}  // namespace mpexec::sandbox
