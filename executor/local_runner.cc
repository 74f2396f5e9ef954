#include "executor/local_runner.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>

#include <fmt/format.h>

#include "executor/output_rules.h"
#include "executor/unit_spec.h"
#include "sandbox/cgroup.h"
#include "sandbox/contain.h"
#include "sandbox/spawner.h"
#include "sandbox/unit_process.h"

extern char** environ;

namespace mpexec {

namespace {

/// mkdir, and its parents only when they are missing.
void makeDir(const std::string& dir) {
  if (mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST) return;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
}

/// Removes what is in `dir`, not `dir` itself. Nothing for an empty path.
void emptyDir(const std::string& dir) {
  if (dir.empty()) return;
  std::error_code ec;
  std::vector<std::filesystem::path> entries;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    entries.push_back(it->path());
  for (const auto& e : entries) std::filesystem::remove_all(e, ec);
}

constexpr int kLinesPollMs = 100;

void watchFd(int epoll_fd, int fd, uint64_t tag) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = tag;
  epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev);
}

/// Test `t` of `unit` ends as ERROR, for `why`, without having run.
RunnerEvent testError(size_t unit, size_t t, const std::string& why, std::string log) {
  RunnerEvent f;
  f.kind = RunnerEvent::Kind::TestFinished;
  f.unit = unit;
  f.test = t;
  f.record.outcome = Outcome::Error;
  f.record.reason = why;
  f.record.log = std::move(log);
  return f;
}

std::string describeStatus(int st) {
  if (WIFEXITED(st)) return fmt::format("exit {}", WEXITSTATUS(st));
  if (WIFSIGNALED(st)) return fmt::format("signal {}", WTERMSIG(st));
  return fmt::format("status {}", st);
}

}  // namespace

/// One unit on one slot: its process and what each of its commands stands for.
struct LocalRunner::Running {
  size_t unit = 0;
  int slot = 0;
  int attempt = 1;
  IdLease id;  ///< before process: given back after the process is gone
  std::optional<sandbox::UnitProcess> process;
  std::vector<sandbox::Role> roles;  ///< by command index
  std::vector<size_t> tests;         ///< by command index (meaningful for Role::Test)
  std::vector<bool> finished;        ///< by command index
  std::vector<int64_t> timeouts_ms;  ///< by command index
  /// The backstop (armOverdue): when the init has gone too long without a word, by clock_.nowUs(); -1 none.
  int64_t overdue_us = -1;
  std::string overdue;  ///< set once the backstop killed the unit: why
  std::string tmp_dir;               ///< host directory for --no-sandbox TMPDIR (the slot's); emptied after
  std::string setup_failed;          ///< why the sandbox could not be set up (then no command ran)
  std::vector<size_t> job_tests;     ///< the job's tests, to match a prepared unit with its start()
  ResourceInstances resources;       ///< what the scheduler gave the unit
  bool synced = false;               ///< registered with the sync service (unit_ended is owed)
  uint64_t oom_seen = 0;
  std::string problem;
  sandbox::Policy policy;  ///< as the sandbox applied it (writable paths resolved)
  /// The spec of a unit handed a recycled sandbox, until its set-up is through: should that set-up fail, the
  /// unit starts again in a new sandbox (restartInNewSandbox).
  std::unique_ptr<sandbox::UnitSpec> recycled_spec;

  // A batch unit's (docs/executor.md, "Batch units"):
  std::unique_ptr<BatchUnit> batch;
  uint32_t batch_index = 0;  ///< the Batch command's index
};

namespace {

/// The executor's backstop for the init's own timeouts (DESIGN §4, "Timeout"): each event of the unit's init
/// gives it until twice the longest timeout of the unit's commands, the grace, and 5 s more, to send the next
/// one; an init that stays silent longer is killed. The init times each command itself, but not while it
/// waits for a command's process to exec (CLONE_VFORK): a process of the unit, the command's uid by then,
/// could stop it there (SIGSTOP), and the unit, and the run, waited forever.
void armOverdue(LocalRunner::Running& r, int64_t now_us, int64_t grace_ms) {
  int64_t longest = 0;
  for (int64_t t : r.timeouts_ms) longest = std::max(longest, t);
  r.overdue_us = now_us + (2 * longest + grace_ms + 5000) * 1000;
}

}  // namespace

LocalRunner::LocalRunner(const Manifest& m, const Plan& plan, const sandbox::Context& ctx, sandbox::Spawner& spawner,
                         const RunPaths& paths,
                         const RunClock& clock, LocalRunnerOptions opts)
    : m_(m),
      plan_(plan),
      ctx_(ctx),
      paths_(paths),
      clock_(clock),
      opts_(std::move(opts)),
      epoll_(epoll_create1(EPOLL_CLOEXEC)),
      inits_(ctx, spawner, epoll_.get(), kRetiring, size_t(std::max(1, opts_.slots)), freshOnly()),
      log_names_(m) {
  logs_dir_fd_.reset(open(paths_.logs_dir.c_str(), O_DIRECTORY | O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  batch_site_ = std::make_unique<BatchSite>(
      BatchSite{m_, paths_, logs_dir_fd_.get(), clock_, opts_.batch_board,
                [this](size_t t, int attempt) { return log_names_.name(t, attempt); }});
  if (UniqueFd run(open(paths_.run_dir.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)); run) {
    mkdirat(run.get(), "out", 0755);
    out_dir_fd_.reset(openat(run.get(), "out", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  }
  if (ctx_.isolation() == sandbox::Isolation::Namespaces) {
    const passwd* pw = getpwuid(geteuid());
    view_.emplace(m_, paths_.state_dir, opts_.sync.socket_dir, pw && pw->pw_dir ? pw->pw_dir : "", ctx_.privileged());
  }
  if (opts_.interrupt_fd >= 0) watchFd(epoll_.get(), opts_.interrupt_fd, kInterrupt);
  if (opts_.batch_board) watchFd(epoll_.get(), opts_.batch_board->wakeFd(), kBoard);
  // Tests call `"$MPEXEC_EXE" sync ...` without needing mpexec on their PATH.
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  base_env_ = baseEnvironment(environ, ec ? std::string() : exe.string());
  running_.resize(size_t(std::max(1, opts_.slots)));
  task_share_ = sandbox::taskShare(opts_.slots);
  // Each preloaded interpreter the plan will want starts now, while the first units run exec'd.
  if (opts_.preloads && ctx_.isolation() == sandbox::Isolation::Namespaces)
    for (const Unit& unit : plan_.units) {
      const GroupSpec* group = unit.group.empty() ? nullptr : &m_.groups.at(unit.group);
      if (group && group->batch && !group->batch->preload.empty())
        opts_.preloads->startAhead(preloadCommand(*group, base_env_));
    }
}

bool LocalRunner::freshOnly() {
  // A recycled sandbox is opt-in (docs/sandbox.md, "Recycled sandboxes"): a unit can tell that it kept the
  // last unit's network and pid namespaces (their inode numbers, lo's address times).
  auto set = [](const char* name) {
    const char* v = getenv(name);
    return v && *v && std::string(v) != "0";
  };
  return !set("MPEXEC_RECYCLE_SANDBOXES") || set("MPEXEC_FRESH_SANDBOXES");
}

LocalRunner::~LocalRunner() {
  killAll();
  // --no-sandbox: the slots' TMPDIRs, empty by now.
  std::error_code ec;
  if (ctx_.isolation() != sandbox::Isolation::Namespaces) std::filesystem::remove_all(paths_.run_dir + "/tmp", ec);
}

std::string LocalRunner::logPath(size_t t, int attempt) const {
  return paths_.log_prefix + "/" + log_names_.name(t, attempt);
}

Result<UniqueFd> LocalRunner::outputDir(const std::string& unit_id) const {
  if (!out_dir_fd_) return Error{"output directory", ENOENT, paths_.run_dir + "/out"};
  if (mkdirat(out_dir_fd_.get(), unit_id.c_str(), 0755) != 0 && errno != EEXIST)
    return sysError("mkdir", paths_.run_dir + "/out/" + unit_id);
  UniqueFd fd(openat(out_dir_fd_.get(), unit_id.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return sysError("open", paths_.run_dir + "/out/" + unit_id);
  return fd;
}

std::optional<std::string> LocalRunner::launch(Running& r, const UnitJob& job, bool hold) {
  const Unit& unit = plan_.units[job.unit];
  const GroupSpec* group = unit.group.empty() ? nullptr : &m_.groups.at(unit.group);
  const bool sandboxed = ctx_.isolation() == sandbox::Isolation::Namespaces;
  r.unit = job.unit;
  r.slot = job.slot;
  r.attempt = job.attempt;
  r.job_tests = job.tests;
  r.resources = job.resources;

  // The sandbox: the unit's policy, its output directory, and the host as units see it.
  sandbox::UnitSpec spec;
  spec.name = unit.id;
  spec.isolation = ctx_.isolation();
  spec.policy = unitPolicy(m_, unit, job.tests);
  spec.log_dir_fd = logs_dir_fd_.get();
  spec.kill_grace_ms = opts_.kill_grace_ms;
  spec.hold = hold;
  spec.output_dir = paths_.run_dir + "/out/" + unit.id;
  auto output_dir = outputDir(unit.id);
  if (!output_dir) return "cannot make the output directory: " + output_dir.error().message();
  spec.output_dir_fd = output_dir->get();
  if (sandboxed) {
    spec.hidden = view_->hidden();
    if (auto why = view_->resolveWritable(spec.policy, !inits_.ids().empty())) return why;
  }
  r.policy = spec.policy;

  // Which init: a sandbox left clean by a unit of the same policy, with that unit's id, unless the unit is set
  // up ahead; else a new one with the lowest free unit id. A unit forked from a preloaded interpreter neither
  // takes nor leaves a sandbox for another: its init has held its commands, with their environment
  // (docs/sandbox.md, "Preloaded interpreters").
  const bool preload = sandboxed && opts_.preloads && group && group->batch && !group->batch->preload.empty();
  spec.recycle = sandboxed && !preload && inits_.recycles(spec.policy);
  std::unique_ptr<IdleInits::Idle> reuse = spec.recycle && !hold ? inits_.takeSandbox(spec.policy) : nullptr;
  if (reuse) {
    spec.identity = reuse->id.id();
    r.id = std::move(reuse->id);
  } else if (sandboxed && !inits_.ids().empty()) {
    r.id = inits_.ids().lease();
    if (r.id.id() < 0) return "sandbox: every unit id of the run is in use";
    spec.identity = r.id.id();
  }
  if (spec.identity >= 0) spec.task_limit = task_share_;

  // What the commands are told: TMPDIR, the sync service.
  UnitLaunch l{.m = m_, .unit = unit, .group = group, .job = job, .base_env = base_env_,
               .sandboxed = sandboxed, .hold = hold, .slots = opts_.slots, .run_id = paths_.run_id,
               .tmp = "/tmp", .output_dir = spec.output_dir};
  if (!sandboxed) {
    // One per slot, emptied between its units: a directory made and removed per unit costs more than a
    // trivial test (an ext4 mounted with discard trims the freed block on every rmdir).
    r.tmp_dir = fmt::format("{}/tmp/slot{}", paths_.run_dir, job.slot);
    makeDir(r.tmp_dir);
    l.tmp = r.tmp_dir;
  }
  if (!opts_.sync.socket_path.empty()) {
    spec.sync_dir = sandboxed ? view_->syncDir() : opts_.sync.socket_dir;
    l.sync_socket = sandboxed ? sandbox::kSyncSocketInside : opts_.sync.socket_path;
    if (opts_.sync.unit_starting) l.sync_token = opts_.sync.unit_starting(unit.id);
    if (!sandboxed || spec.policy.network == sandbox::Network::Host) l.sync_url = opts_.sync.tcp_url;
  }
  // From here on, a unit that does not start has its batch process closed, its TMPDIR emptied and the sync
  // service told.
  auto abandon = [&](std::string why) {
    if (r.batch && opts_.batch_board) opts_.batch_board->close(unit.id);
    emptyDir(r.tmp_dir);
    if (!l.sync_socket.empty() && opts_.sync.unit_ended) opts_.sync.unit_ended(unit.id);
    return std::optional<std::string>(std::move(why));
  };

  // The commands: a batch group's first process, made by its BatchUnit, or one per test; the fixtures.
  std::optional<sandbox::CommandSpec> batch;
  if (group && group->batch) {
    UniqueFd out_dir(openat(output_dir->get(), ".", O_DIRECTORY | O_RDONLY | O_CLOEXEC));  // the unit's, by fd
    r.batch = std::make_unique<BatchUnit>(*batch_site_, *group->batch, job.unit, unit.id, job.tests, job.attempt,
                                          batchBaseCommand(l), std::move(out_dir));
    batch.emplace();
    if (auto why = r.batch->startFirst(*batch)) return abandon(std::move(*why));
  }
  UnitCommands commands = unitCommands(l, log_names_, std::move(batch));
  spec.commands = std::move(commands.commands);
  r.tests = std::move(commands.tests);
  for (size_t i = 0; i < spec.commands.size(); ++i) {
    r.roles.push_back(spec.commands[i].role);
    r.timeouts_ms.push_back(spec.commands[i].timeout_ms);
    if (spec.commands[i].role == sandbox::Role::Batch) r.batch_index = uint32_t(i);
  }
  r.finished.assign(spec.commands.size(), false);
  if (sandboxed) {
    auto visible = view_->visible(spec, !inits_.ids().empty());
    if (!visible) return abandon("sandbox: " + visible.error().message());
    spec.visible = std::move(*visible);
  }

  // Start it.
  const size_t recycled_before = inits_.recycledUnits();
  sandbox::Spawner* preloaded = preload ? opts_.preloads->spawnerFor(spec.commands[r.batch_index]) : nullptr;
  auto proc = inits_.start(spec, std::move(reuse), preloaded);
  if (!proc.ok()) return abandon("sandbox: " + proc.error().message());
  r.process.emplace(std::move(proc.value()));
  r.synced = !l.sync_socket.empty();
  if (inits_.recycledUnits() > recycled_before) {
    spec.output_dir_fd = -1;  // closed on return: opened again if the spec is used
    r.recycled_spec = std::make_unique<sandbox::UnitSpec>(std::move(spec));
  }
  return std::nullopt;
}

bool LocalRunner::restartInNewSandbox(Running& r) {
  std::unique_ptr<sandbox::UnitSpec> spec = std::move(r.recycled_spec);
  // A unit id of its own, so that the recycled init, gone or going, is reaped only once the new one runs.
  IdLease lease = inits_.ids().lease();
  auto dir = outputDir(plan_.units[r.unit].id);
  if (lease.id() < 0 || !dir) return false;
  spec->identity = lease.id();
  spec->output_dir_fd = dir->get();
  auto proc = inits_.startAfresh(*spec);
  if (!proc.ok()) {
    r.setup_failed += "; nor could a new sandbox be made: " + proc.error().message();
    return false;
  }
  unwatch(r);
  r.process.emplace(std::move(proc.value()));  // the recycled init is killed and reaped, its cgroups removed
  r.id = std::move(lease);
  r.setup_failed.clear();
  watch(r);
  return true;
}

void LocalRunner::watch(const Running& r) {
  watchFd(epoll_.get(), r.process->eventFd(), uint64_t(r.slot));
  watchFd(epoll_.get(), r.process->pidFd(), uint64_t(r.slot) | kExited);
}

void LocalRunner::unwatch(const Running& r) {
  for (int fd : {r.process->eventFd(), r.process->pidFd()}) epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
}

void LocalRunner::start(const UnitJob& job) {
  inits_.keep();  // a unit started after discardPrepared() (a retry) may leave its sandbox to another
  std::erase_if(to_prepare_, [&](const UnitJob& j) { return j.unit == job.unit; });
  std::unique_ptr<Running> r;
  if (auto it = prepared_.find(job.unit); it != prepared_.end()) {
    if (it->second->attempt == job.attempt && it->second->job_tests == job.tests && job.resources.empty())
      r = std::move(it->second);
    else drop(std::move(it->second));
    prepared_.erase(it);
  }
  if (r) {
    // Set up while the slot was busy: let it go. An init that is already gone (its set-up failed) has left
    // its events in the socket, read as soon as the unit is watched.
    r->slot = job.slot;
    r->process->go(job.slot);
    if (r->batch) r->batch->slotKnown(job.slot);  // for its later processes
  } else {
    r = std::make_unique<Running>();
    if (auto why = launch(*r, job, false)) {
      // The unit never started: every test is an ERROR that says why, and the slot frees at once.
      for (size_t t : job.tests) pending_.push_back(testError(job.unit, t, *why, logPath(t, job.attempt)));
      RunnerEvent end;
      end.kind = RunnerEvent::Kind::UnitFinished;
      end.unit = job.unit;
      end.at_us = clock_.nowUs();
      end.problem = *why;
      pending_.push_back(std::move(end));
      return;
    }
  }
  armOverdue(*r, clock_.nowUs(), opts_.kill_grace_ms);
  watch(*r);
  running_[size_t(job.slot)] = std::move(r);
}

void LocalRunner::prepare(const UnitJob& job) {
  // Without namespaces there is nothing to set up ahead, and an idle init takes the unit at once. A unit that
  // may take the sandbox of the slot's last unit is not set up ahead either: most do take it.
  if (ctx_.isolation() != sandbox::Isolation::Namespaces) return;
  if (inits_.recycles(unitPolicy(m_, plan_.units[job.unit], job.tests))) return;
  if (prepared_.count(job.unit)) return;
  for (const UnitJob& j : to_prepare_)
    if (j.unit == job.unit) return;
  to_prepare_.push_back(job);  // done in wait(), when there is nothing else to do
}

int LocalRunner::settingUp() {
  int n = 0;
  // A running unit is watched: its Ready is taken by readEvents() once the epoll set reports it, and one
  // pending meanwhile makes the next epoll_wait() return at once. Only units set up ahead need asking.
  for (const auto& r : running_)
    if (r && r->process && r->process->setupDoneNs() == 0 && !r->process->reaped()) ++n;
  for (const auto& [unit, r] : prepared_)
    if (r->process && !r->process->pastSetup()) ++n;
  return n;
}

void LocalRunner::drop(std::unique_ptr<Running> r) {
  if (r->batch && opts_.batch_board) opts_.batch_board->close(plan_.units[r->unit].id);
  r->process.reset();  // kills and reaps
  emptyDir(r->tmp_dir);
  if (r->synced && opts_.sync.unit_ended) opts_.sync.unit_ended(plan_.units[r->unit].id);
}

void LocalRunner::discardPrepared() {
  to_prepare_.clear();
  for (auto& [unit, r] : prepared_) drop(std::move(r));
  prepared_.clear();
  // No unit is left to take an idle sandbox, nor one that a unit still running leaves: each is killed now,
  // and torn down by the kernel while the last units run and the reports are written, rather than one
  // after another when the runner goes.
  inits_.release();
}

void LocalRunner::translate(Running& r, const sandbox::Event& ev, std::vector<RunnerEvent>& out) {
  if (ev.kind == sandbox::Event::Kind::SetupFailed) {
    // No command ran: finishUnit() turns every test into an ERROR that says why.
    r.setup_failed = "sandbox: " + sandbox::setupError(ev).message();
    return;
  }
  if (ev.index >= r.roles.size()) return;
  sandbox::Role role = r.roles[ev.index];
  size_t t = r.tests[ev.index];
  using K = sandbox::Event::Kind;
  if (role == sandbox::Role::Batch) {
    if (ev.kind == K::Started) {
      r.batch->processStarted(clock_.toUs(ev.mono_ns));
      batchDeadline(r);
    } else if (ev.kind == K::Denied) {
      r.problem += fmt::format("{}seccomp denied {} to batch process {}", r.problem.empty() ? "" : "; ", ev.detail,
                               r.batch->process());
    } else if (ev.kind == K::Skipped) {
      r.batch->abandon(r.problem.empty() ? "group setup failed" : r.problem, out);
      if (opts_.batch_board) opts_.batch_board->close(plan_.units[r.unit].id);
      r.finished[ev.index] = true;
    } else if (ev.kind == K::Exited || ev.kind == K::SpawnFailed) {
      batchEnded(r, ev, out);
    }
    return;
  }
  if (role != sandbox::Role::Test) {
    // A fixture: its failure is the unit's problem; a failed setup also turns into the tests' ERROR.
    const char* what = role == sandbox::Role::Setup ? "setup" : "teardown";
    std::string failure;
    if (ev.kind == K::SpawnFailed) failure = fmt::format("{} could not start: {}: {}", what, ev.detail, strerror(ev.err));
    if (ev.kind == K::Exited && (ev.timed_out || !WIFEXITED(ev.wait_status) || WEXITSTATUS(ev.wait_status) != 0))
      failure = fmt::format("{} failed ({}{})", what, ev.timed_out ? "timeout, " : "", describeStatus(ev.wait_status));
    if (!failure.empty()) {
      failure += fmt::format("; see {}/{}.{}.log", paths_.log_prefix, plan_.units[r.unit].id, what);
      r.problem = r.problem.empty() ? failure : r.problem + "; " + failure;
    }
    if (ev.kind != K::Started) r.finished[ev.index] = true;
    return;
  }
  const TestSpec& test = m_.tests[t];
  if (ev.kind == K::Started) {
    RunnerEvent s;
    s.kind = RunnerEvent::Kind::TestStarted;
    s.unit = r.unit;
    s.test = t;
    s.at_us = clock_.toUs(ev.mono_ns);
    out.push_back(std::move(s));
    return;
  }
  if (ev.kind == K::Denied) {
    r.problem += fmt::format("{}seccomp denied {} to {}", r.problem.empty() ? "" : "; ", ev.detail, test.name);
    return;
  }
  CommandEnd end;
  RunnerEvent f;
  f.kind = RunnerEvent::Kind::TestFinished;
  f.unit = r.unit;
  f.test = t;
  f.record.log = logPath(t, r.attempt);
  f.record.attempts = r.attempt;
  f.record.resources = shareOf(r.resources, test.resources);
  switch (ev.kind) {
    case K::Exited: {
      end.how = CommandEnd::How::Exited;
      end.wait_status = ev.wait_status;
      end.timed_out = ev.timed_out;
      if (WIFSIGNALED(ev.wait_status) && WTERMSIG(ev.wait_status) == SIGKILL) {
        uint64_t oom = r.process->oomKills();
        end.oom_killed = oom > r.oom_seen;
        r.oom_seen = oom;
      }
      f.record.end_us = clock_.toUs(ev.mono_ns);
      if (needsOutput(test) && !ev.timed_out && WIFEXITED(ev.wait_status)) {
        auto output = readOutputForRules(logs_dir_fd_.get(), log_names_.name(t, r.attempt));
        if (output.ok()) end.output = std::move(output.value());
        else end.output_problem = output.error().message();
      }
      break;
    }
    case K::SpawnFailed:
      end.how = CommandEnd::How::SpawnFailed;
      end.detail = fmt::format("{}: {}", ev.detail, strerror(ev.err));
      f.record.start_us = f.record.end_us = clock_.toUs(ev.mono_ns);
      break;
    case K::Skipped:
      end.how = CommandEnd::How::SetupFailed;
      end.detail = r.problem.empty() ? "group setup failed" : r.problem;
      break;
    default:
      return;
  }
  r.finished[ev.index] = true;
  Classified c = classify(test, end);
  f.record.outcome = c.outcome;
  f.record.exit_code = c.exit_code;
  f.record.signal = c.signal;
  f.record.reason = c.reason;
  out.push_back(std::move(f));
}

void LocalRunner::finishUnit(size_t slot_index, std::vector<RunnerEvent>& out) {
  std::unique_ptr<Running> r = std::move(running_[slot_index]);
  const Unit& unit = plan_.units[r->unit];
  if (r->process->reaped()) unwatch(*r);
  else epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, r->process->eventFd(), nullptr);  // retire() re-tags the pidfd
  int status = r->process->exitStatus();
  const uint32_t leaked = r->process->done() ? r->process->leakedProcesses() : 0;
  if (!r->setup_failed.empty()) r->problem = r->problem.empty() ? r->setup_failed : r->setup_failed + "; " + r->problem;
  for (size_t i = 0; i < r->roles.size(); ++i) {
    if (r->finished[i]) continue;
    std::string why = !r->setup_failed.empty() ? r->setup_failed
                      : !r->overdue.empty()    ? r->overdue
                                               : fmt::format("the unit ended early (init {})", describeStatus(status));
    if (r->roles[i] == sandbox::Role::Batch) {
      r->batch->abandon(why, out);
      continue;
    }
    if (r->roles[i] != sandbox::Role::Test) {
      if (r->setup_failed.empty()) r->problem += (r->problem.empty() ? "" : "; ") + why;
      continue;
    }
    out.push_back(testError(r->unit, r->tests[i], why, logPath(r->tests[i], r->attempt)));
  }
  if (const std::string& note = r->process->setupNote();
      !note.empty() && std::find(setup_notes_.begin(), setup_notes_.end(), note) == setup_notes_.end())
    setup_notes_.push_back(note);
  if (!r->process->reaped()) {
    // Done, not yet exited: the slot is free now; the process is reaped (and its cgroup removed) once its
    // pidfd says it has exited. It may wait for the next unit meanwhile.
    inits_.retire(std::move(*r->process), std::move(r->id), r->policy);
  }
  r->process.reset();
  emptyDir(r->tmp_dir);
  if (r->batch && opts_.batch_board) opts_.batch_board->close(unit.id);
  if (!opts_.sync.socket_path.empty() && opts_.sync.unit_ended) opts_.sync.unit_ended(unit.id);
  RunnerEvent end;
  end.kind = RunnerEvent::Kind::UnitFinished;
  end.unit = r->unit;
  end.at_us = clock_.nowUs();
  end.problem = r->problem;
  end.leaked = leaked;
  out.push_back(std::move(end));
}

void LocalRunner::wait(std::vector<RunnerEvent>& out) {
  if (!pending_.empty()) {
    out.insert(out.end(), std::make_move_iterator(pending_.begin()), std::make_move_iterator(pending_.end()));
    pending_.clear();
    return;
  }
  epoll_event ready[64];
  int n;
  for (;;) {
    // Units to set up ahead wait for a moment with no event pending, and for fewer units setting up (running
    // or ahead) than there are slots: more would only compete for the CPU with the ones that will run first.
    bool spare = !to_prepare_.empty() && settingUp() < int(running_.size());
    // Batch processes whose output lines report tests are read every 100 ms.
    int timeout = opts_.tick_ms;
    for (const auto& r : running_)
      if (r && r->batch && r->batch->readsLines())
        timeout = timeout < 0 ? kLinesPollMs : std::min(timeout, kLinesPollMs);
    const int64_t now_us = clock_.nowUs();
    for (const auto& r : running_)
      if (r && r->overdue_us >= 0) {
        int64_t left = std::clamp<int64_t>((r->overdue_us - now_us) / 1000 + 1, 0, INT32_MAX);
        timeout = timeout < 0 ? int(left) : int(std::min<int64_t>(timeout, left));
      }
    n = epoll_wait(epoll_.get(), ready, 64, spare ? 0 : timeout);
    if (n != 0 || !spare) break;
    UnitJob job = std::move(to_prepare_.front());
    to_prepare_.pop_front();
    auto r = std::make_unique<Running>();
    // A unit that cannot be set up now is left to start(), which reports why.
    if (!launch(*r, job, true)) prepared_.emplace(job.unit, std::move(r));
  }
  if (n < 0) return;  // EINTR: a signal, so the scheduler looks at the interrupt flag
  for (auto& r : running_)
    if (r && r->overdue_us >= 0 && clock_.nowUs() >= r->overdue_us) killOverdue(*r, out);
  // Live reports first: a process's reports all came before its exit.
  batchReports(out);
  for (auto& r : running_)
    if (r && r->batch && r->batch->readsLines()) batchLines(*r, false, out);
  std::vector<sandbox::Event> events;
  std::vector<bool> seen(running_.size(), false);
  // Which units' inits have exited, as their pidfds say: readEvents() need not ask each one again.
  std::vector<bool> exited(running_.size(), false);
  for (int i = 0; i < n; ++i) {
    uint64_t tag = ready[i].data.u64;
    if ((tag & kExited) && (tag & ~kExited) < running_.size()) exited[tag & ~kExited] = true;
  }
  for (int i = 0; i < n; ++i) {
    uint64_t tag = ready[i].data.u64;
    if (tag == kRetiring) {
      inits_.reap();
      continue;
    }
    if (tag == kBoard) continue;  // taken above
    uint64_t slot = tag & ~kExited;
    if (tag == kInterrupt || slot >= running_.size() || seen[slot] || !running_[slot]) continue;
    seen[slot] = true;
    Running& r = *running_[slot];
    events.clear();
    bool alive = r.process->readEvents(events, bool(exited[slot]));
    if (!events.empty() && r.overdue_us >= 0) armOverdue(r, clock_.nowUs(), opts_.kill_grace_ms);
    for (const auto& ev : events) translate(r, ev, out);
    // A recycled sandbox that could not be set up for the unit: no command ran, and the unit runs in a new one.
    if (!r.setup_failed.empty() && r.recycled_spec && restartInNewSandbox(r)) continue;
    if (!alive || r.process->done()) finishUnit(slot, out);
  }
}

void LocalRunner::killOverdue(Running& r, std::vector<RunnerEvent>& out) {
  r.overdue_us = -1;
  r.overdue = "its init said nothing for longer than the unit's commands may take (a process of the unit may "
              "have stopped a command before its exec): the unit was killed";
  // The command the init was at is the one that did not end in time; the rest did not run.
  for (size_t i = 0; i < r.roles.size(); ++i) {
    if (r.finished[i]) continue;
    r.finished[i] = true;
    if (r.roles[i] == sandbox::Role::Batch) {
      r.batch->abandon(r.overdue, out);
    } else if (r.roles[i] == sandbox::Role::Test) {
      RunnerEvent f = testError(r.unit, r.tests[i], r.overdue, logPath(r.tests[i], r.attempt));
      f.record.outcome = Outcome::Timeout;
      f.record.attempts = r.attempt;
      out.push_back(std::move(f));
    } else {
      r.problem += (r.problem.empty() ? "" : "; ") + r.overdue;
    }
    break;
  }
  r.process->kill();
}

void LocalRunner::batchEnded(Running& r, const sandbox::Event& ev, std::vector<RunnerEvent>& out) {
  batchReports(out);
  batchLines(r, true, out);
  if (auto next = r.batch->ended(ev, out)) {
    r.process->nextBatch(r.batch_index, r.batch->process(), *next);
    return;  // if the init is gone, finishUnit() abandons what is left
  }
  r.process->endBatch(r.batch_index);
  r.finished[r.batch_index] = true;
}

void LocalRunner::batchReports(std::vector<RunnerEvent>& out) {
  if (!opts_.batch_board) return;
  for (LiveReport& rep : opts_.batch_board->take()) {
    Running* r = nullptr;
    for (auto& candidate : running_)
      if (candidate && plan_.units[candidate->unit].id == rep.unit) r = candidate.get();
    if (!r || !r->batch || r->batch->process() != rep.process) continue;
    r->batch->report(rep, out);
    batchDeadline(*r);
  }
}

void LocalRunner::batchLines(Running& r, bool all, std::vector<RunnerEvent>& out) {
  if (!r.batch->readsLines()) return;
  r.batch->lines(all, out);
  batchDeadline(r);
}

void LocalRunner::batchDeadline(Running& r) {
  if (!r.process) return;
  if (auto d = r.batch->movedDeadlineNs()) r.process->setBatchDeadline(r.batch_index, r.batch->process(), *d);
}

void LocalRunner::killAll() {
  discardPrepared();
  // Every process is killed first, then each reaped: their teardowns overlap.
  inits_.killRetiring();
  for (auto& r : running_)
    if (r && r->process) r->process->kill();
  inits_.reapAll();
  for (auto& r : running_) {
    if (!r) continue;
    r->process.reset();  // reaps
    emptyDir(r->tmp_dir);
    if (r->batch && opts_.batch_board) opts_.batch_board->close(plan_.units[r->unit].id);
    if (!opts_.sync.socket_path.empty() && opts_.sync.unit_ended) opts_.sync.unit_ended(plan_.units[r->unit].id);
    r.reset();
  }
  pending_.clear();
}

}  // namespace mpexec
