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
#include <unordered_set>

#include <fmt/format.h>

#include "executor/output_rules.h"
#include "sandbox/cgroup.h"
#include "sandbox/contain.h"
#include "sandbox/spawner.h"
#include "sandbox/unit_process.h"

extern char** environ;

namespace mpexec {

namespace {

/// A file name for a test's log: its name with anything unsafe replaced; a suffix where that collides.
/// Only these suffixes hold '~', so a test's log never takes the name of another's retry ("~attemptN") or
/// of a group's setup or teardown ("<unit>~setup"), whatever the tests are called.
std::vector<std::string> makeLogNames(const Manifest& m) {
  std::vector<std::string> names;
  names.reserve(m.tests.size());
  std::unordered_set<std::string> used;
  for (size_t i = 0; i < m.tests.size(); ++i) {
    std::string n = m.tests[i].name.substr(0, 200);
    for (char& c : n)
      if (!isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') c = '_';
    if (n.empty() || n[0] == '.') n.insert(0, "_");
    std::string candidate = n + ".log";
    for (int k = 2; !used.insert(candidate).second; ++k) candidate = fmt::format("{}~{}.log", n, k);
    names.push_back(std::move(candidate));
  }
  return names;
}

bool under(const std::string& path, const std::string& dir) {
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/';
}

/// The project directories a command needs: its cwd and its program's directory (when cmd[0] is a path).
void projectDirs(const std::string& cwd, const std::vector<std::string>& argv, std::vector<std::string>& out) {
  out.push_back(cwd);
  if (!argv.empty() && argv[0].find('/') != std::string::npos)
    out.push_back(std::filesystem::path(argv[0]).parent_path().string());
}

/// The directories a unit needs to see that its fresh /tmp and /run hide: the manifest's, each command's
/// cwd and program directory (as `paths` resolved them), when they lie there and no writable path already
/// covers them. Never /tmp or /run themselves: those hold every program's files, and the unit's are its own
/// (a manifest straight in /tmp runs in the unit's fresh /tmp).
///
/// `project`, when not empty, is bound wherever it lies (a unit of its own uid sees the rest of the host as a
/// stranger, and the project as its own).
Result<std::vector<std::string>> hiddenPaths(const std::string& manifest_dir, const sandbox::UnitSpec& spec,
                                             BindPaths& paths, const std::string& project) {
  std::vector<std::string> declared = {manifest_dir};
  for (const auto& c : spec.commands) projectDirs(c.cwd, c.argv, declared);
  std::vector<std::string> candidates;
  for (const auto& d : declared) {
    auto r = paths.get(d);
    if (!r) return r.error();
    candidates.push_back(*r);
  }
  std::vector<std::string> out;
  for (const auto& p : candidates) {
    if (p == "/tmp" || p == "/run") continue;
    bool hidden_by_unit = under(p, "/tmp") || under(p, "/run");
    if (!hidden_by_unit && p != project) continue;
    bool covered = false;
    for (const auto& w : spec.policy.writable) covered |= p == w || under(p, w);
    for (const auto& o : out) covered |= p == o || under(p, o);
    if (covered) continue;
    // A new path may cover earlier ones: keep only the outermost.
    std::erase_if(out, [&](const std::string& o) { return under(o, p); });
    out.push_back(p);
  }
  return out;
}

/// Whether `dir` holds other programs' files beside the project's: it is `/`, holds `home` (the invoking
/// user's), may be written by everybody (/tmp, /var/tmp), or holds a directory that may. Bound through a
/// unit's owner view, every file of the invoking user's there, sockets included, would be the unit's own.
bool sharedWithOthers(const std::string& dir, const std::string& home) {
  if (dir == "/" || (!home.empty() && (home == dir || under(home, dir)))) return true;
  struct stat st;
  if (stat(dir.c_str(), &st) == 0 && (st.st_mode & S_IWOTH)) return true;
  for (const char* shared : {"/tmp", "/var/tmp", "/run", "/dev/shm"})
    if (under(shared, dir)) return true;
  return false;
}

/// Every writable path a unit of `m` may declare, and the state directory: where a unit may have put a
/// symlink (see BindPaths).
std::vector<std::string> unsafeDirs(const Manifest& m, const std::string& state_dir) {
  std::vector<std::string> out{state_dir};
  for (const auto& t : m.tests) out.insert(out.end(), t.settings.sandbox.writable.begin(), t.settings.sandbox.writable.end());
  for (const auto& [name, g] : m.groups)
    out.insert(out.end(), g.settings.sandbox.writable.begin(), g.settings.sandbox.writable.end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

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

std::string describeStatus(int st) {
  if (WIFEXITED(st)) return fmt::format("exit {}", WEXITSTATUS(st));
  if (WIFSIGNALED(st)) return fmt::format("signal {}", WTERMSIG(st));
  return fmt::format("status {}", st);
}

}  // namespace

namespace {

/// A unit id held by a unit (LocalRunner::ids_in_use_): given back when the unit's Running goes, after its
/// process (declared after it) has been reaped or has reported Done.
class IdLease {
 public:
  IdLease() = default;
  IdLease(std::vector<bool>* pool, int id) : pool_(pool), id_(id) { (*pool_)[size_t(id_)] = true; }
  IdLease(IdLease&& o) noexcept : pool_(std::exchange(o.pool_, nullptr)), id_(o.id_) {}
  IdLease& operator=(IdLease&& o) noexcept {
    if (this != &o) {
      release();
      pool_ = std::exchange(o.pool_, nullptr);
      id_ = o.id_;
    }
    return *this;
  }
  ~IdLease() { release(); }
  int id() const { return pool_ ? id_ : -1; }

 private:
  void release() {
    if (pool_) (*pool_)[size_t(id_)] = false;
    pool_ = nullptr;
  }
  std::vector<bool>* pool_ = nullptr;
  int id_ = -1;
};

/// The lowest unit id nobody holds, or -1 when every one is taken.
int freeId(const std::vector<bool>& in_use) {
  for (size_t i = 0; i < in_use.size(); ++i)
    if (!in_use[i]) return int(i);
  return -1;
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

/// An init waiting for another unit.
struct LocalRunner::Idle {
  IdLease id;  ///< a recycled sandbox keeps its unit id (its owner view is that id's): given back last
  sandbox::Policy policy;
  std::unique_ptr<sandbox::UnitProcess> process;
};

LocalRunner::LocalRunner(const Manifest& m, const Plan& plan, const sandbox::Context& ctx, sandbox::Spawner& spawner,
                         const RunPaths& paths,
                         const RunClock& clock, LocalRunnerOptions opts)
    : m_(m),
      plan_(plan),
      ctx_(ctx),
      spawner_(spawner),
      paths_(paths),
      clock_(clock),
      opts_(std::move(opts)),
      bind_paths_(unsafeDirs(m, paths.state_dir)) {
  epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
  logs_dir_fd_.reset(open(paths_.logs_dir.c_str(), O_DIRECTORY | O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  batch_site_ = std::make_unique<BatchSite>(BatchSite{m_, paths_, logs_dir_fd_.get(), clock_, opts_.batch_board,
                                                      [this](size_t t, int attempt) { return logName(t, attempt); }});
  if (UniqueFd run(open(paths_.run_dir.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)); run) {
    mkdirat(run.get(), "out", 0755);
    out_dir_fd_.reset(openat(run.get(), "out", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  }
  ids_in_use_.assign(ctx_.unitIds(), false);
  // A recycled sandbox is opt-in (docs/sandbox.md, "Recycled sandboxes"): a unit can tell that it kept the
  // last unit's network and pid namespaces (their inode numbers, lo's address times).
  auto set = [](const char* name) {
    const char* v = getenv(name);
    return v && *v && std::string(v) != "0";
  };
  fresh_only_ = !set("MPEXEC_RECYCLE_SANDBOXES") || set("MPEXEC_FRESH_SANDBOXES");
  // Before any unit runs: every path a unit gets bound (see bind_paths.h).
  if (ctx_.isolation() == sandbox::Isolation::Namespaces) {
    std::vector<std::string> dirs{m_.dir};
    auto settings = [&](const Settings& s) {
      for (const auto& w : s.sandbox.writable) bind_paths_.add(w);
    };
    for (const auto& t : m_.tests) {
      settings(t.settings);
      projectDirs(t.settings.cwd, t.cmd, dirs);
    }
    for (const auto& [name, g] : m_.groups) {
      settings(g.settings);
      projectDirs(g.settings.cwd, g.setup, dirs);
      projectDirs(g.settings.cwd, g.teardown, dirs);
    }
    for (const auto& d : dirs) bind_paths_.add(d);
    if (!opts_.sync.socket_dir.empty()) {
      auto sync = bind_paths_.get(opts_.sync.socket_dir);
      sync_dir_ = sync ? *sync : opts_.sync.socket_dir;
    }
    hidden_ = {paths_.state_dir};
    const passwd* pw = getpwuid(geteuid());
    std::string home = pw && pw->pw_dir ? pw->pw_dir : "";
    if (!ctx_.privileged() && !home.empty()) {
      for (const char* private_dir : {"/.ssh", "/.gnupg"}) {
        auto resolved = bind_paths_.get(home + private_dir);
        struct stat st;
        if (resolved && stat(resolved->c_str(), &st) == 0 && S_ISDIR(st.st_mode)) hidden_.push_back(*resolved);
      }
    }
    auto project = bind_paths_.get(m_.dir);
    if (project && !sharedWithOthers(*project, home)) project_dir_ = *project;
    // A state directory that is the project itself (--state-dir .) cannot be covered whole: the units need
    // the project, whose bind would go on top of the cover (read-only, noexec) and show every run's records.
    // What no unit may see is its runs.
    if (project && *project == paths_.state_dir) hidden_[0] = paths_.state_dir + "/runs";
  }
  if (opts_.interrupt_fd >= 0) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = ~uint64_t(0);
    epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, opts_.interrupt_fd, &ev);
  }
  if (opts_.batch_board) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kBoard;
    epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, opts_.batch_board->wakeFd(), &ev);
  }
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    // The run's own variables are set per test; stale ones from an enclosing mpexec must not leak in.
    if (kv.rfind("MPEXEC_", 0) == 0 || kv.rfind("TMPDIR=", 0) == 0) continue;
    base_env_.push_back(std::move(kv));
  }
  // Tests call `"$MPEXEC_EXE" sync ...` without needing mpexec on their PATH.
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) base_env_.push_back("MPEXEC_EXE=" + exe.string());
  log_names_ = makeLogNames(m);
  running_.resize(size_t(std::max(1, opts_.slots)));
  task_share_ = sandbox::taskShare(opts_.slots);
  // Each preloaded interpreter the plan will want starts now, while the first units run exec'd: its
  // interpreter and startup variables are the batch command's argv[0] and the group's environment.
  if (opts_.preloads && ctx_.isolation() == sandbox::Isolation::Namespaces)
    for (const Unit& unit : plan_.units) {
      const GroupSpec* group = unit.group.empty() ? nullptr : &m_.groups.at(unit.group);
      if (!group || !group->batch || group->batch->preload.empty()) continue;
      sandbox::CommandSpec c;
      c.argv = group->batch->cmd;
      for (const auto& kv : base_env_)
        if (!group->settings.env.count(kv.substr(0, kv.find('=')))) c.env.push_back(kv);
      for (const auto& [k, v] : group->settings.env) c.env.push_back(k + "=" + v);
      opts_.preloads->startAhead(c);
    }
}

LocalRunner::~LocalRunner() {
  killAll();
  // --no-sandbox: the slots' TMPDIRs, empty by now.
  std::error_code ec;
  if (ctx_.isolation() != sandbox::Isolation::Namespaces) std::filesystem::remove_all(paths_.run_dir + "/tmp", ec);
}

std::string LocalRunner::logName(size_t t, int attempt) const {
  if (attempt <= 1) return log_names_[t];
  const std::string& base = log_names_[t];
  return fmt::format("{}~attempt{}.log", base.substr(0, base.size() - 4), attempt);
}

std::string LocalRunner::logPath(size_t t, int attempt) const {
  return paths_.log_prefix + "/" + logName(t, attempt);
}

Result<UniqueFd> LocalRunner::outputDir(const std::string& unit_id) const {
  if (!out_dir_fd_) return Error{"output directory", ENOENT, paths_.run_dir + "/out"};
  if (mkdirat(out_dir_fd_.get(), unit_id.c_str(), 0755) != 0 && errno != EEXIST)
    return sysError("mkdir", paths_.run_dir + "/out/" + unit_id);
  UniqueFd fd(openat(out_dir_fd_.get(), unit_id.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return sysError("open", paths_.run_dir + "/out/" + unit_id);
  return fd;
}

std::optional<std::string> LocalRunner::launch(Running& run, const UnitJob& job, bool hold) {
  const size_t unit_index = job.unit;
  const int slot = job.slot;
  const Unit& unit = plan_.units[unit_index];
  Running* r = &run;
  r->unit = unit_index;
  r->slot = slot;
  r->attempt = job.attempt;
  r->job_tests = job.tests;
  r->resources = job.resources;
  const GroupSpec* group = nullptr;
  if (!unit.group.empty()) group = &m_.groups.at(unit.group);
  const Settings& unit_settings = group ? group->settings : m_.tests[job.tests[0]].settings;

  sandbox::UnitSpec spec;
  spec.name = unit.id;
  spec.isolation = ctx_.isolation();
  // The sandbox belongs to the unit: a serial group's, or the free test's own.
  spec.policy = isSerial(unit.strategy) ? unit_settings.sandbox : m_.tests[job.tests[0]].settings.sandbox;
  spec.log_dir_fd = logs_dir_fd_.get();
  spec.kill_grace_ms = opts_.kill_grace_ms;
  spec.hold = hold;
  spec.output_dir = paths_.run_dir + "/out/" + unit.id;
  auto output_dir = outputDir(unit.id);
  if (!output_dir) return "cannot make the output directory: " + output_dir.error().message();
  spec.output_dir_fd = output_dir->get();
  bool sandboxed = ctx_.isolation() == sandbox::Isolation::Namespaces;
  if (sandboxed) {
    spec.hidden = hidden_;
    for (std::string& w : spec.policy.writable) {
      auto resolved = bind_paths_.get(w);
      if (!resolved) return "sandbox: " + resolved.error().message();
      // The state directory is never a unit's to write (DESIGN §4): a bind there would go on top of its
      // cover and show every unit's logs and output directories.
      if (*resolved == paths_.state_dir || under(*resolved, paths_.state_dir))
        return fmt::format("sandbox: the writable path {} is in mpexec's state directory {}, which no unit may "
                           "see; give --state-dir a directory outside it", *resolved, paths_.state_dir);
      w = *resolved;
    }
  }
  r->policy = spec.policy;
  // A unit forked from a preloaded interpreter neither takes nor leaves a sandbox for another: its init
  // has held its commands, with their environment (docs/sandbox.md, "Preloaded interpreters").
  const bool preload = sandboxed && opts_.preloads && group && group->batch && !group->batch->preload.empty();
  spec.recycle = sandboxed && !preload && recycles(spec.policy);
  // A sandbox left clean by a unit of the same policy, with that unit's id, unless the unit is set up ahead.
  std::unique_ptr<Idle> reuse = spec.recycle && !hold ? takeIdleSandbox(spec.policy) : nullptr;
  if (reuse) {
    spec.identity = reuse->id.id();
    r->id = std::move(reuse->id);
  } else if (sandboxed && !ids_in_use_.empty()) {
    int id = freeId(ids_in_use_);
    if (id < 0) return "sandbox: every unit id of the run is in use";
    r->id = IdLease(&ids_in_use_, id);
    spec.identity = id;
  }
  if (spec.identity >= 0) spec.task_limit = task_share_;
  std::string tmp = "/tmp";
  if (!sandboxed) {
    // One per slot, emptied between its units: a directory made and removed per unit costs more than a
    // trivial test (an ext4 mounted with discard trims the freed block on every rmdir).
    r->tmp_dir = fmt::format("{}/tmp/slot{}", paths_.run_dir, slot);
    makeDir(r->tmp_dir);
    tmp = r->tmp_dir;
  }
  std::string token;
  std::string socket;
  if (!opts_.sync.socket_path.empty()) {
    spec.sync_dir = sandboxed ? sync_dir_ : opts_.sync.socket_dir;
    socket = sandboxed ? sandbox::kSyncSocketInside : opts_.sync.socket_path;
    if (opts_.sync.unit_starting) token = opts_.sync.unit_starting(unit.id);
  }

  // `need`: the command's own resource needs; it is told its share of what the unit holds. A test with
  // CTest's resource groups is told them as ctest would, over any CTEST_RESOURCE_GROUP_* mpexec inherited.
  auto env = [&](const Settings& s, const TestSpec* test, const ResourceCounts& need) {
    const bool ctest_groups = test && !test->resource_groups.empty();
    std::vector<std::string> e;
    e.reserve(base_env_.size() + s.env.size() + 14);
    for (const auto& kv : base_env_) {
      auto eq = kv.find('=');
      if (s.env.count(kv.substr(0, eq)) || (sandboxed && kv.rfind("MPEXEC_EXE=", 0) == 0)) continue;
      if (ctest_groups && kv.starts_with("CTEST_RESOURCE_GROUP_")) continue;
      e.push_back(kv);
    }
    for (const auto& [k, v] : s.env) e.push_back(k + "=" + v);
    if (test) e.push_back("MPEXEC_TEST_NAME=" + test->name);
    e.push_back("MPEXEC_GROUP=" + unit.group);
    e.push_back(std::string("MPEXEC_STRATEGY=") + strategyName(unit.strategy));
    e.push_back("MPEXEC_UNIT=" + unit.id);
    e.push_back(hold ? std::string("MPEXEC_SLOT=") : "MPEXEC_SLOT=" + std::to_string(slot));  // go() fills it
    e.push_back("MPEXEC_WORKER_COUNT=" + std::to_string(opts_.slots));
    e.push_back("MPEXEC_RUN_ID=" + paths_.run_id);
    e.push_back("MPEXEC_ATTEMPT=" + std::to_string(job.attempt));
    e.push_back("MPEXEC_TMPDIR=" + tmp);
    e.push_back("TMPDIR=" + tmp);
    e.push_back("MPEXEC_OUTPUT_DIR=" + spec.output_dir);
    if (sandboxed) e.push_back(std::string("MPEXEC_EXE=") + sandbox::kExeInside);
    if (!socket.empty()) {
      e.push_back("MPEXEC_SYNC_SOCKET=" + socket);
      e.push_back("MPEXEC_SYNC_TOKEN=" + token);
      if (!opts_.sync.tcp_url.empty() && (!sandboxed || spec.policy.network == sandbox::Network::Host))
        e.push_back("MPEXEC_SYNC_URL=" + opts_.sync.tcp_url);
    }
    const ResourceInstances share = shareOf(job.resources, need);
    for (const auto& [name, instances] : share) e.push_back(resourceVariable(name) + "=" + instanceList(instances));
    if (ctest_groups)
      for (std::string& v : ctestGroupVariables(test->resource_groups, share)) e.push_back(std::move(v));
    return e;
  };
  auto fixture = [&](sandbox::Role role, const std::vector<std::string>& argv, const char* what) {
    sandbox::CommandSpec c;
    c.role = role;
    c.argv = argv;
    c.env = env(group->settings, nullptr, group->resources);
    c.env.push_back(std::string("MPEXEC_FIXTURE=") + what);
    c.cwd = group->settings.cwd;
    c.timeout_ms = int64_t(group->settings.timeout_s * 1000);
    c.log_name = job.attempt > 1 ? fmt::format("{}~{}~attempt{}.log", unit.id, what, job.attempt)
                                 : unit.id + "~" + what + ".log";
    spec.commands.push_back(std::move(c));
    r->roles.push_back(role);
    r->tests.push_back(0);
  };

  if (group && !group->setup.empty()) fixture(sandbox::Role::Setup, group->setup, "setup");
  std::string visible_error;
  auto commands_done = [&] {
    if (!sandboxed) return;
    auto visible = hiddenPaths(m_.dir, spec, bind_paths_, !ids_in_use_.empty() ? project_dir_ : std::string());
    if (visible) spec.visible = std::move(*visible);
    else visible_error = "sandbox: " + visible.error().message();
  };
  if (group && group->batch) {
    sandbox::CommandSpec base;
    base.role = sandbox::Role::Batch;
    base.env = env(group->settings, nullptr, unit.resources);  // runs all of the unit's tests
    base.cwd = group->settings.cwd;
    base.preload = !group->batch->preload.empty();
    UniqueFd out_dir(openat(output_dir->get(), ".", O_DIRECTORY | O_RDONLY | O_CLOEXEC));  // the unit's, by fd
    r->batch = std::make_unique<BatchUnit>(*batch_site_, *group->batch, unit_index, unit.id, job.tests, job.attempt,
                                           std::move(base), std::move(out_dir));
    sandbox::CommandSpec c;
    if (auto why = r->batch->startFirst(c)) {
      emptyDir(r->tmp_dir);
      if (!socket.empty() && opts_.sync.unit_ended) opts_.sync.unit_ended(unit.id);
      return why;
    }
    r->batch_index = uint32_t(spec.commands.size());
    spec.commands.push_back(std::move(c));
    r->roles.push_back(sandbox::Role::Batch);
    r->tests.push_back(0);
  }
  for (size_t t : r->batch ? std::vector<size_t>{} : job.tests) {
    const TestSpec& test = m_.tests[t];
    sandbox::CommandSpec c;
    c.role = sandbox::Role::Test;
    c.argv = test.cmd;
    c.env = env(test.settings, &test, test.resources);
    c.cwd = test.settings.cwd;
    c.timeout_ms = std::max<int64_t>(1, int64_t(test.settings.timeout_s * 1000));
    c.log_name = logName(t, job.attempt);
    spec.commands.push_back(std::move(c));
    r->roles.push_back(sandbox::Role::Test);
    r->tests.push_back(t);
  }
  if (group && !group->teardown.empty()) fixture(sandbox::Role::Teardown, group->teardown, "teardown");
  r->finished.assign(spec.commands.size(), false);
  commands_done();
  if (!visible_error.empty()) {
    if (!socket.empty() && opts_.sync.unit_ended) opts_.sync.unit_ended(unit.id);
    return visible_error;
  }

  const size_t recycled_before = recycled_;
  sandbox::Spawner* spawner = &spawner_;
  if (preload)
    if (sandbox::Spawner* preloaded = opts_.preloads->spawnerFor(spec.commands[r->batch_index])) spawner = preloaded;
  auto proc = startUnit(spec, std::move(reuse), *spawner);
  if (!proc.ok() && spawner != &spawner_) {
    // A preloaded spawner that is gone (killed, crashed) leaves its units to the ordinary one, which execs
    // their commands. (A preload unit takes no idle sandbox: `reuse` was empty.)
    --sandboxes_;
    proc = startUnit(spec, nullptr, spawner_);
  }
  if (!proc.ok()) {
    if (r->batch && opts_.batch_board) opts_.batch_board->close(unit.id);
    emptyDir(r->tmp_dir);
    if (!socket.empty() && opts_.sync.unit_ended) opts_.sync.unit_ended(unit.id);
    return "sandbox: " + proc.error().message();
  }
  r->process.emplace(std::move(proc.value()));
  r->synced = !socket.empty();
  if (recycled_ > recycled_before) {
    spec.output_dir_fd = -1;  // closed on return: opened again if the spec is used
    r->recycled_spec = std::make_unique<sandbox::UnitSpec>(std::move(spec));
  }
  return std::nullopt;
}

bool LocalRunner::restartInNewSandbox(Running& r) {
  std::unique_ptr<sandbox::UnitSpec> spec = std::move(r.recycled_spec);
  // A unit id of its own, so that the recycled init, gone or going, is reaped only once the new one runs.
  const int id = freeId(ids_in_use_);
  auto dir = outputDir(plan_.units[r.unit].id);
  if (id < 0 || !dir) return false;
  IdLease lease(&ids_in_use_, id);
  spec->identity = id;
  spec->output_dir_fd = dir->get();
  auto proc = spawner_.spawn(*spec);
  if (!proc.ok()) {
    r.setup_failed += "; nor could a new sandbox be made: " + proc.error().message();
    return false;
  }
  for (int fd : {r.process->eventFd(), r.process->pidFd()}) epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  r.process.emplace(std::move(proc.value()));  // the recycled init is killed and reaped, its cgroups removed
  r.id = std::move(lease);
  r.setup_failed.clear();
  --recycled_;
  for (int fd : {r.process->eventFd(), r.process->pidFd()}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = uint64_t(r.slot);
    epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev);
  }
  return true;
}

Result<sandbox::UnitProcess> LocalRunner::startUnit(const sandbox::UnitSpec& spec, std::unique_ptr<Idle> reuse,
                                                    sandbox::Spawner& spawner) {
  if (spec.isolation == sandbox::Isolation::Namespaces) {
    ++sandboxes_;
    if (reuse && spawner_.recycle(*reuse->process, spec)) {
      ++recycled_;
      return std::move(*reuse->process);
    }
    // Could not be handed on (gone meanwhile, or its cgroups): the destructor kills and reaps it, before a
    // new sandbox takes its unit id.
    reuse.reset();
    return spawner.spawn(spec);
  }
  while (!spec.hold && !idle_.empty()) {
    std::unique_ptr<Idle> idle = std::move(idle_.back());
    idle_.pop_back();
    epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, idle->process->pidFd(), nullptr);
    if (idle->process->runNext(spec)) return std::move(*idle->process);
    // Gone meanwhile: the destructor reaps it; try the next one.
  }
  return spawner_.spawn(spec);
}

std::unique_ptr<LocalRunner::Idle> LocalRunner::takeIdleSandbox(const sandbox::Policy& policy) {
  for (size_t i = 0; i < idle_.size(); ++i) {
    if (!(idle_[i]->policy == policy) || !idle_[i]->process->recyclable()) continue;
    std::unique_ptr<Idle> idle = std::move(idle_[i]);
    idle_.erase(idle_.begin() + ptrdiff_t(i));
    epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, idle->process->pidFd(), nullptr);
    return idle;
  }
  return nullptr;
}

bool LocalRunner::recycles(const sandbox::Policy& policy) const {
  return !fresh_only_ && ctx_.isolation() == sandbox::Isolation::Namespaces && ctx_.privileged() &&
         !ids_in_use_.empty() && policy.network == sandbox::Network::None && !policy.nested && policy.seccomp &&
         !ctx_.usesUserNamespace(policy);
}

void LocalRunner::start(const UnitJob& job) {
  keep_idle_ = true;  // a unit started after discardPrepared() (a retry) may leave its sandbox to another
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
      for (size_t t : job.tests) {
        RunnerEvent ev;
        ev.kind = RunnerEvent::Kind::TestFinished;
        ev.unit = job.unit;
        ev.test = t;
        ev.record.outcome = Outcome::Error;
        ev.record.reason = *why;
        ev.record.log = logPath(t, job.attempt);
        pending_.push_back(std::move(ev));
      }
      RunnerEvent end;
      end.kind = RunnerEvent::Kind::UnitFinished;
      end.unit = job.unit;
      end.at_us = clock_.nowUs();
      end.problem = *why;
      pending_.push_back(std::move(end));
      return;
    }
  }
  for (int fd : {r->process->eventFd(), r->process->pidFd()}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = uint64_t(job.slot);
    epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev);
  }
  running_[size_t(job.slot)] = std::move(r);
}

void LocalRunner::prepare(const UnitJob& job) {
  // Without namespaces there is nothing to set up ahead, and an idle init takes the unit at once. A unit that
  // may take the sandbox of the slot's last unit is not set up ahead either: most do take it.
  if (ctx_.isolation() != sandbox::Isolation::Namespaces) return;
  const Unit& unit = plan_.units[job.unit];
  const Settings& first = m_.tests[job.tests[0]].settings;
  const Settings& unit_settings = unit.group.empty() ? first : m_.groups.at(unit.group).settings;
  if (recycles(isSerial(unit.strategy) ? unit_settings.sandbox : first.sandbox)) return;
  if (prepared_.count(job.unit)) return;
  for (const UnitJob& j : to_prepare_)
    if (j.unit == job.unit) return;
  to_prepare_.push_back(job);  // done in wait(), when there is nothing else to do
}

int LocalRunner::settingUp() {
  int n = 0;
  for (const auto& r : running_)
    if (r && r->process && !r->process->pastSetup()) ++n;
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
  // after another when the runner goes. reapRetired() reaps them; their unit ids are given back after that.
  keep_idle_ = false;
  for (auto& idle : idle_) {
    idle->process->kill();
    released_.push_back(std::move(idle));
  }
  idle_.clear();
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
        auto output = readOutputForRules(logs_dir_fd_.get(), logName(t, r.attempt));
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
  for (int fd : {r->process->eventFd(), r->process->pidFd()}) epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  int status = r->process->exitStatus();
  const uint32_t leaked = r->process->done() ? r->process->leakedProcesses() : 0;
  if (!r->setup_failed.empty()) r->problem = r->problem.empty() ? r->setup_failed : r->setup_failed + "; " + r->problem;
  for (size_t i = 0; i < r->roles.size(); ++i) {
    if (r->finished[i]) continue;
    std::string why = !r->setup_failed.empty() ? r->setup_failed
                                                : fmt::format("the unit ended early (init {})", describeStatus(status));
    if (r->roles[i] == sandbox::Role::Batch) {
      r->batch->abandon(why, out);
      continue;
    }
    if (r->roles[i] != sandbox::Role::Test) {
      if (r->setup_failed.empty()) r->problem += (r->problem.empty() ? "" : "; ") + why;
      continue;
    }
    RunnerEvent f;
    f.kind = RunnerEvent::Kind::TestFinished;
    f.unit = r->unit;
    f.test = r->tests[i];
    f.record.outcome = Outcome::Error;
    f.record.reason = why;
    f.record.log = logPath(r->tests[i], r->attempt);
    out.push_back(std::move(f));
  }
  if (const std::string& note = r->process->setupNote();
      !note.empty() && std::find(setup_notes_.begin(), setup_notes_.end(), note) == setup_notes_.end())
    setup_notes_.push_back(note);
  if (!r->process->reaped()) {
    // Done, not yet exited: the slot is free now; the process is reaped (and its cgroup removed) once its
    // pidfd says it has exited.
    auto retired = std::make_unique<sandbox::UnitProcess>(std::move(*r->process));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kRetiring;
    epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, retired->pidFd(), &ev);
    bool reusable = keep_idle_ && (ctx_.isolation() == sandbox::Isolation::None || retired->recyclable()) &&
                    idle_.size() < running_.size();
    if (reusable) {
      auto idle = std::make_unique<Idle>();
      idle->id = std::move(r->id);
      idle->policy = r->policy;
      idle->process = std::move(retired);
      idle_.push_back(std::move(idle));
    } else {
      // An init that reported Done waits for another unit until its socket closes, whether or not it was
      // found clean: none will come.
      retired->kill();
      retiring_.push_back(std::move(retired));
    }
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
    n = epoll_wait(epoll_.get(), ready, 64, spare ? 0 : timeout);
    if (n != 0 || !spare) break;
    UnitJob job = std::move(to_prepare_.front());
    to_prepare_.pop_front();
    auto r = std::make_unique<Running>();
    // A unit that cannot be set up now is left to start(), which reports why.
    if (!launch(*r, job, true)) prepared_.emplace(job.unit, std::move(r));
  }
  if (n < 0) return;  // EINTR: a signal, so the scheduler looks at the interrupt flag
  // Live reports first: a process's reports all came before its exit.
  batchReports(out);
  for (auto& r : running_)
    if (r && r->batch && r->batch->readsLines()) batchLines(*r, false, out);
  std::vector<sandbox::Event> events;
  std::vector<bool> seen(running_.size(), false);
  for (int i = 0; i < n; ++i) {
    uint64_t slot = ready[i].data.u64;
    if (slot == kRetiring) {
      reapRetired();
      continue;
    }
    if (slot == kBoard) continue;  // taken above
    if (slot >= running_.size() || seen[slot] || !running_[slot]) continue;
    seen[slot] = true;
    Running& r = *running_[slot];
    events.clear();
    bool alive = r.process->readEvents(events);
    for (const auto& ev : events) translate(r, ev, out);
    // A recycled sandbox that could not be set up for the unit: no command ran, and the unit runs in a new one.
    if (!r.setup_failed.empty() && r.recycled_spec && restartInNewSandbox(r)) continue;
    if (!alive || r.process->done()) finishUnit(slot, out);
  }
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

void LocalRunner::reapRetired() {
  std::vector<sandbox::Event> ignored;
  auto exited = [&](const std::unique_ptr<sandbox::UnitProcess>& p) {
    if (p->readEvents(ignored)) return false;
    epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, p->pidFd(), nullptr);
    return true;  // reaped; the destructor removes its cgroup
  };
  std::erase_if(retiring_, exited);
  std::erase_if(idle_, [&](const std::unique_ptr<Idle>& i) { return exited(i->process); });
  std::erase_if(released_, [&](const std::unique_ptr<Idle>& i) { return exited(i->process); });
}

void LocalRunner::killAll() {
  discardPrepared();
  // Every process is killed first, then each reaped: their teardowns overlap.
  for (auto& p : retiring_) p->kill();
  for (auto& r : running_)
    if (r && r->process) r->process->kill();
  retiring_.clear();
  released_.clear();
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
