#include "sandbox/unit_process.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "sandbox/contain.h"
#include "sandbox/fd_passing.h"
#include "sandbox/init.h"
#include "sandbox/spawner.h"

namespace mpexec::sandbox {

struct UnitProcess::State {
  Isolation isolation = Isolation::None;
  pid_t pid = -1;
  UniqueFd pidfd;
  UniqueFd events;
  std::unique_ptr<UnitCgroup> cgroup;
  /// A recycled init's last cgroups, until its Ready says it has moved to the new ones: then killed (nothing
  /// is left in them) and removed.
  std::unique_ptr<UnitCgroup> previous_cgroup;
  bool reaped = false;
  int exit_status = 0;
  int64_t setup_done_ns = 0;
  std::string setup_note;
  bool done = false;
  uint32_t leaked = 0;
  bool clean = false;    ///< Done said the sandbox is clean for another unit
  Event refusal;         ///< else Done itself, which says why not (put in words only when asked)
};

namespace {

int pidfdSendSignal(int pidfd, int sig) { return int(syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0)); }

bool readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  int n;
  while ((n = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR) {
  }
  return n > 0;
}

void takeReady(UnitProcess::State& s, const Event& ev) {
  s.previous_cgroup.reset();
  s.setup_done_ns = ev.mono_ns;
  s.setup_note.assign(ev.detail, strnlen(ev.detail, sizeof ev.detail));
}

/// A header datagram (with `fd` as SCM_RIGHTS when it is not -1), then `bytes` in datagrams of kNextChunk
/// bytes.
bool sendChunked(int sock, const void* header, size_t header_size, const std::string& bytes, int fd = -1) {
  if (!sendWithFd(sock, header, header_size, fd)) return false;
  for (size_t sent = 0; sent < bytes.size(); sent += kNextChunk)
    if (!sendWithFd(sock, bytes.data() + sent, std::min(kNextChunk, bytes.size() - sent))) return false;
  return true;
}

}  // namespace

UnitProcess adoptUnit(Isolation isolation, ContainedChild child, UniqueFd events) {
  auto s = std::make_unique<UnitProcess::State>();
  s->isolation = isolation;
  s->pid = child.pid;
  s->pidfd = std::move(child.pidfd);
  s->cgroup = std::move(child.cgroup);
  s->events = std::move(events);
  return UnitProcess(std::move(s));
}

UnitProcess::UnitProcess(std::unique_ptr<State> s) : s_(std::move(s)) {}
UnitProcess::UnitProcess(UnitProcess&&) noexcept = default;
UnitProcess& UnitProcess::operator=(UnitProcess&&) noexcept = default;

UnitProcess::~UnitProcess() {
  if (!s_ || s_->reaped) return;
  kill();
  // An init without a pid namespace sweeps its descendants on SIGTERM; give it a moment, then insist.
  if (!readable(s_->pidfd.get(), 5000)) pidfdSendSignal(s_->pidfd.get(), SIGKILL);
  siginfo_t info;
  while (waitid(P_PIDFD, s_->pidfd.get(), &info, WEXITED) < 0 && errno == EINTR) {
  }
}

pid_t UnitProcess::pid() const { return s_->pid; }
int UnitProcess::eventFd() const { return s_->events.get(); }
int UnitProcess::pidFd() const { return s_->pidfd.get(); }
int UnitProcess::exitStatus() const { return s_->exit_status; }
int64_t UnitProcess::setupDoneNs() const { return s_->setup_done_ns; }
const std::string& UnitProcess::setupNote() const { return s_->setup_note; }
bool UnitProcess::done() const { return s_->done; }
uint32_t UnitProcess::leakedProcesses() const { return s_->leaked; }
bool UnitProcess::reaped() const { return s_->reaped; }
uint64_t UnitProcess::oomKills() const { return s_->cgroup ? s_->cgroup->oomKills() : 0; }

bool UnitProcess::readEvents(std::vector<Event>& out, std::optional<bool> exited) {
  if (s_->reaped) return false;
  // Check for exit first: every event the init sent before it exited is then already queued.
  if (!exited) exited = readable(s_->pidfd.get(), 0);
  // Every pending event in as few calls as there are batches of kBatch (one, nearly always): a recv per
  // event and one more to learn that none is left cost a system call each, several per unit.
  constexpr unsigned kBatch = 8;
  Event evs[kBatch];
  iovec iov[kBatch];
  mmsghdr msgs[kBatch];
  bool reset_told = false;
  for (bool more = true; more;) {
    for (unsigned i = 0; i < kBatch; ++i) {
      iov[i] = {&evs[i], sizeof evs[i]};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int n = recvmmsg(s_->events.get(), msgs, kBatch, MSG_DONTWAIT, nullptr);
    // An init that exited with something of ours unread (a Go sent as its set-up failed) leaves our end
    // marked ECONNRESET, which the next receive reports once, ahead of the events the init sent before.
    if (n < 0 && errno == ECONNRESET && !reset_told) {
      reset_told = true;
      continue;
    }
    more = n == int(kBatch);
    for (int i = 0; i < n; ++i) {
      // A short datagram is the end of the stream (0 after the init closed its end) or a broken protocol.
      if (msgs[i].msg_len != sizeof(Event)) {
        more = false;
        break;
      }
      const Event& ev = evs[i];
      if (ev.kind == Event::Kind::Ready)
        takeReady(*s_, ev);
      else if (ev.kind == Event::Kind::Done) {
        s_->done = true;
        s_->leaked = ev.leaked;
        s_->clean = ev.err == 0;
        s_->refusal = ev;
      } else
        out.push_back(ev);
    }
  }
  if (!*exited) return true;
  reap(WEXITED);
  return false;
}

bool UnitProcess::reapIfExited() {
  if (!s_->reaped) reap(WEXITED | WNOHANG);
  return s_->reaped;
}

void UnitProcess::reap(int options) {
  siginfo_t info{};
  int rc;
  while ((rc = waitid(P_PIDFD, s_->pidfd.get(), &info, options)) < 0 && errno == EINTR) {
  }
  if (rc == 0 && info.si_pid == 0) return;  // WNOHANG, and still running
  s_->exit_status = info.si_code == CLD_EXITED ? W_EXITCODE(info.si_status, 0) : info.si_status;
  s_->reaped = true;
}

bool UnitProcess::pastSetup() {
  if (s_->setup_done_ns != 0 || s_->reaped) return true;
  Event ev;
  ssize_t n = recv(s_->events.get(), &ev, sizeof ev, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;  // nothing yet, or broken
  if (n != ssize_t(sizeof ev)) return true;  // the init is gone (0) or broke the protocol
  // Ready is taken here (readEvents() would keep it the same way); SetupFailed stays for readEvents().
  if (ev.kind == Event::Kind::Ready) {
    (void)!recv(s_->events.get(), &ev, sizeof ev, MSG_DONTWAIT);
    takeReady(*s_, ev);
  }
  return true;
}

bool UnitProcess::go(int slot) {
  // Set up ahead at SCHED_IDLE (serveSpawn): whatever of the set-up is left now runs at normal priority.
  sched_param normal{};
  sched_setscheduler(pid(), SCHED_OTHER, &normal);
  GoMessage m;
  m.slot = slot;
  return send(s_->events.get(), &m, sizeof m, MSG_NOSIGNAL) == ssize_t(sizeof m);
}

bool UnitProcess::runNext(const UnitSpec& spec) {
  if (s_->isolation != Isolation::None || !s_->done || s_->reaped) return false;
  const std::string bytes = encodeSpawnRequest(spec, {});
  NextHeader h;
  h.size = bytes.size();
  if (!sendChunked(s_->events.get(), &h, sizeof h, bytes)) return false;
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  s_->done = false;
  s_->leaked = 0;
  s_->setup_done_ns = int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;  // nothing to set up
  return true;
}

bool UnitProcess::sendCommands(const UnitSpec& spec) {
  if (s_->reaped) return false;
  const std::string bytes = encodeSpawnRequest(spec, {});
  NextHeader h;
  h.size = bytes.size();
  return sendChunked(s_->events.get(), &h, sizeof h, bytes);
}

bool UnitProcess::recyclable() const {
  return s_->isolation == Isolation::Namespaces && s_->done && s_->clean && !s_->reaped;
}

std::string UnitProcess::recycleRefusal() const {
  return s_->done && !s_->clean ? setupError(s_->refusal).message() : std::string();
}

bool UnitProcess::recycle(const UnitSpec& spec, std::unique_ptr<UnitCgroup> cgroup) {
  if (!recyclable()) return false;
  // Only the init is left of the last unit (it reaped every other process before Done); it moves itself into
  // the new unit's cgroups (recycleSandbox), and the old ones go once its Ready says so.
  const std::string bytes = encodeSpawnRequest(spec, cgroup ? cgroup->dirs() : std::vector<std::string>{});
  NextHeader h;
  h.size = bytes.size();
  if (!sendChunked(s_->events.get(), &h, sizeof h, bytes, spec.output_dir_fd)) return false;
  s_->previous_cgroup = std::move(s_->cgroup);
  s_->cgroup = std::move(cgroup);
  s_->done = false;
  s_->clean = false;
  s_->leaked = 0;
  s_->setup_done_ns = 0;  // until its Ready
  s_->setup_note.clear();
  return true;
}

bool UnitProcess::setBatchDeadline(uint32_t index, uint32_t process, int64_t deadline_ns) {
  if (s_->reaped) return false;
  BatchControl c;
  c.kind = BatchControl::Kind::Deadline;
  c.index = index;
  c.process = process;
  c.deadline_ns = deadline_ns;
  return sendWithFd(s_->events.get(), &c, sizeof c);
}

bool UnitProcess::nextBatch(uint32_t index, uint32_t process, const CommandSpec& cmd) {
  if (s_->reaped) return false;
  const std::string bytes = encodeCommand(cmd);
  BatchControl c;
  c.kind = BatchControl::Kind::Next;
  c.index = index;
  c.process = process;
  c.size = bytes.size();
  return sendChunked(s_->events.get(), &c, sizeof c, bytes);
}

bool UnitProcess::endBatch(uint32_t index) {
  if (s_->reaped) return false;
  BatchControl c;
  c.kind = BatchControl::Kind::End;
  c.index = index;
  return sendWithFd(s_->events.get(), &c, sizeof c);
}

void UnitProcess::kill() {
  if (s_->reaped) return;
  // An init waiting for go() or for another unit reads the end of the socket and exits (an init without a pid
  // namespace takes no SIGTERM while it waits there).
  shutdown(s_->events.get(), SHUT_RDWR);
  // After Done the init of a pid namespace has reaped every other process of the unit, and its SIGKILL ends
  // the namespace: the cgroup is empty by the time the init is reaped, when it is removed (and killed if it
  // is not). Before Done, the whole cgroup is killed at once.
  if (s_->cgroup && !(s_->done && s_->isolation == Isolation::Namespaces)) s_->cgroup->killAll();
  pidfdSendSignal(s_->pidfd.get(), s_->isolation == Isolation::Namespaces ? SIGKILL : SIGTERM);
}

}  // namespace mpexec::sandbox
