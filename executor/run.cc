// run(config): manifest → plan → sandbox context → dispatch → reports. Every step's failure maps to an
// exit code of DESIGN §6.

#include <fcntl.h>
#include <sched.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <tuple>
#include <filesystem>
#include <thread>

#include <fmt/format.h>

#include "executor/atomic_file.h"
#include "executor/batch_board.h"
#include "executor/clock.h"
#include "executor/config.h"
#include "executor/console.h"
#include "executor/exit_code.h"
#include "executor/history.h"
#include "executor/input_file.h"
#include "executor/interrupt.h"
#include "executor/listing_units.h"
#include "executor/local_runner.h"
#include "executor/manifest.h"
#include "executor/plan.h"
#include "executor/plan_listing.h"
#include "executor/preload.h"
#include "executor/printable.h"
#include "executor/repeat.h"
#include "executor/reports/reports.h"
#include "executor/scheduler.h"
#include "executor/shard_env.h"
#include "executor/state_dir.h"
#include "sandbox/context.h"
#include "sandbox/spawner.h"
#include "sandbox/unique_fd.h"
#include "sync-service/server.h"

namespace mpexec {

namespace {

int cpuCount() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return int(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
}

// The sync service's private directory goes under $TMPDIR, like other temporary files (so a test harness
// that kills mpexec can sweep it), unless TMPDIR is unset, not a directory, or too long for the socket's
// path to fit in a sockaddr_un.
std::string syncDirParent() {
  const char* tmpdir = getenv("TMPDIR");
  std::string dir = tmpdir && tmpdir[0] == '/' ? tmpdir : "";
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  constexpr size_t kSocketPathMax = 107;  // sockaddr_un's sun_path, less its NUL
  struct stat st {};
  if (dir.empty() || dir.size() + std::strlen("/mpexec-sync.XXXXXX/sync.sock") > kSocketPathMax ||
      stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return "/tmp";
  return dir;
}

// The time and 32 random bits: unique without mpexec's pid, which a unit (MPEXEC_RUN_ID, its output
// directory's path) has no business knowing.
// The microseconds come before the random bits so that names sort as the runs started, also within
// one second (--keep-runs removes the first by name).
std::string makeRunId() {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  struct tm tm;
  gmtime_r(&now.tv_sec, &tm);
  char stamp[32];
  strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
  uint32_t nonce = 0;
  if (getrandom(&nonce, sizeof nonce, GRND_NONBLOCK) != ssize_t(sizeof nonce)) nonce = uint32_t(clock()) ^ uint32_t(getpid());
  return fmt::format("{}-{:06}{:08x}", stamp, now.tv_nsec / 1000, nonce);
}

std::optional<std::regex> compile(const std::string& re, const char* flag, std::string& error) {
  if (re.empty()) return std::nullopt;
  try {
    return std::regex(re, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    error = fmt::format("{}: not a valid regular expression '{}': {}", flag, re, e.what());
    return std::nullopt;
  }
}

// A run as named steps, in the order run() calls them. A step that can fail returns the exit code to leave
// with; the members carry what one step hands the next.
class RunSession {
 public:
  explicit RunSession(const Config& config) : config_(config) {}
  ~RunSession();

  void startEarly();
  std::optional<int> readySandbox(int netns_ahead);
  std::optional<int> loadInputs();
  std::optional<int> selectTests();
  std::optional<int> startServices();
  void dispatch();
  int finish();

 private:
  int exitCodeAndNotes(const Combined& combined, std::vector<std::string>& notes) const;
  /// --keep-runs: removes the oldest run directories, in a thread of its own while the tests run (an
  /// rmdir can take milliseconds on a file system mounted with discard); finishPruning() waits for it
  /// and says what it did in `notes`.
  void startPruning();
  void finishPruning(bool interrupted, std::vector<std::string>& notes);
  /// Which step of the selection left no test, in words.
  std::string whyNoTests() const;
  /// How often the runner wakes the dispatch loop without an event: for streamed output, the status
  /// line's clock and the SLOW lines; -1: only on events.
  int tickMs() const;

  const Config& config_;
  /// config_ with the report paths resolved before any unit ran (written without following symlinks).
  std::optional<Config> reports_;
  RunClock clock_;
  std::string spawner_program_;
  std::optional<Result<std::unique_ptr<sandbox::Spawner>>> spawner_;
  std::optional<sandbox::Context::Pending> pending_ctx_;
  std::unique_ptr<sandbox::Context> ctx_;
  int netns_ahead_ = 0;
  /// Before runner_, which uses them: destroyed after it.
  std::unique_ptr<Preloads> preloads_;
  std::optional<Manifest> manifest_;
  std::string state_dir_;  ///< as given (or the default beside the manifest)
  UniqueFd state_fd_;      ///< the state directory, once it exists
  UniqueFd run_fd_;        ///< this run's directory, locked shared while the run lasts
  std::thread pruner_;
  std::atomic<bool> stop_pruning_{false};
  PrunedRuns pruned_;
  std::string state_file_;
  std::optional<History> history_;
  std::optional<History> shard_durations_;
  Selection sel_;
  Plan plan_;
  int np_ = 1;
  RunPaths paths_;
  std::unique_ptr<BatchBoard> batch_board_;  ///< before sync_, which holds it as its ResultSink
  std::unique_ptr<sync::Service> sync_;
  std::optional<InterruptWatch> interrupt_;
  std::unique_ptr<LocalRunner> runner_;
  std::unique_ptr<Console> console_;
  std::vector<ScheduleResult> results_;
  std::optional<History> updated_;
  int64_t wall_us_ = 0;
};

// Started before the manifest is read, to run on another core meanwhile: the spawner program (which, as
// root, prepares what units share) and the namespace probe. Their errors are reported after the manifest's.
void RunSession::startEarly() {
  auto isolation = config_.no_sandbox ? sandbox::Isolation::None : sandbox::Isolation::Namespaces;
  bool sandboxed = isolation == sandbox::Isolation::Namespaces && !config_.list;
  spawner_program_ = config_.list ? std::string() : sandbox::Spawner::findProgram();
  spawner_.emplace(sandbox::Spawner::launch(spawner_program_, sandboxed));
  pending_ctx_.emplace(sandbox::Context::begin(sandboxed ? isolation : sandbox::Isolation::None));
}

// The Context and the spawner, once: the listings of gtest entries need them while the manifest loads, the
// units after it.
std::optional<int> RunSession::readySandbox(int netns_ahead) {
  if (ctx_) return std::nullopt;
  auto ctx = sandbox::Context::finish(std::move(*pending_ctx_));
  pending_ctx_.reset();
  if (!ctx.ok()) {
    fmt::print(stderr, "mpexec: {}\n", ctx.error().message());
    return kExitInfra;
  }
  ctx_ = std::move(ctx.value());
  netns_ahead_ = netns_ahead;
  // Before any thread starts: without mpexec-spawner, the spawner is a fork of this process as it is now.
  auto& spawner = *spawner_;
  Result<void> serving = spawner.ok() ? spawner.value()->serve(*ctx_, netns_ahead) : Result<void>(spawner.error());
  if (!serving.ok()) {
    fmt::print(stderr, "mpexec: cannot start the spawner process: {}\n", serving.error().message());
    return kExitInfra;
  }
  return std::nullopt;
}

// The manifest and the state directory's history.
std::optional<int> RunSession::loadInputs() {
  ManifestOptions mopts;
  mopts.default_timeout_s = config_.timeout_s;
  mopts.resources = config_.resources;
  mopts.resource_origins = config_.resource_origins;
  auto text = readInputFile(config_.manifest);  // once: a pipe cannot be read twice
  if (!text.ok()) {
    fmt::print(stderr, "mpexec: {}\n", printable(text.error().message()));
    return kExitUsage;
  }
  // With the sandbox, nothing the manifest names runs outside one: its gtest entries are listed in sandbox
  // units (executor/listing_units.h). The first load only collects them (each listed as no case), and a
  // manifest with an error runs nothing; the second takes the listings.
  std::vector<ListingRequest> requests;
  if (!config_.no_sandbox) {
    mopts.list_gtest = [&](const std::string& bin, const GtestListOptions& lo, const Settings& settings) {
      requests.push_back({bin, lo, settings});
      return Result<std::vector<std::string>>(std::vector<std::string>{});
    };
  }
  auto loaded = parseManifest(*text, config_.manifest, mopts);
  if (loaded.ok() && !requests.empty()) {
    const int np = config_.np > 0 ? config_.np : cpuCount();
    if (config_.list) {  // nothing was started ahead for --list
      spawner_program_ = sandbox::Spawner::findProgram();
      spawner_.emplace(sandbox::Spawner::launch(spawner_program_, true));
      pending_ctx_.emplace(sandbox::Context::begin(sandbox::Isolation::Namespaces));
    }
    if (auto rc = readySandbox(np)) return rc;
    ListingUnitsOptions lopts;
    lopts.slots = np;
    lopts.kill_grace_ms = int64_t(config_.kill_grace_s * 1000);
    lopts.state_dir = config_.state_dir.empty() ? loaded->dir + "/.mpexec" : config_.state_dir;
    // Ctrl-C while listing stops the listings as it stops a run: their units killed, their directory removed.
    interrupt_.emplace();
    lopts.interrupt_fd = interrupt_->fd();
    lopts.interrupted = [&] { return interrupt_->triggered(); };
    auto listings = listInSandboxUnits(std::move(*loaded), requests, *ctx_, *spawner_->value(), lopts);
    if (interrupt_->triggered()) {
      fmt::print(stderr, "mpexec: interrupted by signal {} while listing the manifest's gtest entries\n",
                 interrupt_->signal());
      return kExitInterrupted;
    }
    mopts.list_gtest = [&](const std::string& bin, const GtestListOptions&, const Settings&) {
      for (size_t i = 0; i < requests.size(); ++i)
        if (requests[i].bin == bin) return listings[i];
      return Result<std::vector<std::string>>(Error{{}, 0, "not listed"});  // the loads differ: cannot happen
    };
    loaded = parseManifest(*text, config_.manifest, mopts);
  }
  if (!loaded.ok()) {
    fmt::print(stderr, "mpexec: {}\n", printable(loaded.error().message()));
    return kExitUsage;
  }
  manifest_.emplace(std::move(loaded.value()));

  state_dir_ = config_.state_dir.empty() ? manifest_->dir + "/.mpexec" : config_.state_dir;
  state_file_ = state_dir_ + "/state.json";
  paths_.run_id = makeRunId();
  paths_.run_dir = state_dir_ + "/runs/" + paths_.run_id;
  auto history = History::load(state_file_);
  if (!history.ok()) {
    fmt::print(stderr, "mpexec: {}\n", history.error().message());
    return kExitUsage;
  }
  history_.emplace(std::move(history.value()));
  return std::nullopt;
}

// --filter, --exclude, --label, --exclude-label, --rerun-failed, --shard and --shuffle make the plan; --list
// prints it and stops.
std::optional<int> RunSession::selectTests() {
  std::string re_error;
  sel_.filter = compile(config_.filter, "--filter", re_error);
  if (re_error.empty()) sel_.exclude = compile(config_.exclude, "--exclude", re_error);
  for (auto [given, into, flag] : {std::tuple{&config_.labels, &sel_.labels, "--label"},
                                   std::tuple{&config_.exclude_labels, &sel_.exclude_labels, "--exclude-label"}}) {
    for (const std::string& re : *given) {
      if (!re_error.empty()) break;
      // An empty expression matches every label, as in ctest; a test without labels still has none to match.
      if (auto compiled = compile(re.empty() ? "(?:)" : re, flag, re_error)) into->push_back(std::move(*compiled));
    }
  }
  if (!re_error.empty()) {
    fmt::print(stderr, "mpexec: {}\n", re_error);
    return kExitUsage;
  }
  sel_.only_failed = config_.rerun_failed;
  sel_.shard = config_.shard;
  if (!config_.shard_by_durations.empty()) {
    auto d = loadShardDurations(config_.shard_by_durations);
    if (!d.ok()) {
      fmt::print(stderr, "mpexec: {}\n", d.error().message());
      return kExitUsage;
    }
    shard_durations_.emplace(std::move(d.value()));
    sel_.shard_durations = &*shard_durations_;
  }
  if (config_.shuffle) {
    uint64_t seed = 0;
    if (config_.seed) {
      seed = *config_.seed;
    } else if (getrandom(&seed, sizeof seed, 0) != ssize_t(sizeof seed)) {
      seed = uint64_t(clock_.start_ns);
    }
    sel_.shuffle_seed = seed;
  }
  plan_ = makePlan(*manifest_, *history_, sel_);
  if (config_.list) {
    std::string why_empty = plan_.tests.empty() ? whyNoTests() : "";
    // --list --json F: the plan as JSON in F, as a run's report goes there; '-' prints it instead of the text.
    if (!config_.json.empty() && config_.json != "-") {
      if (auto written = writeFileAtomic(config_.json, planJson(*manifest_, plan_, config_, sel_, why_empty), Survives::ProcessCrash);
          !written.ok()) {
        fmt::print(stderr, "mpexec: cannot write the plan: {}\n", written.error().message());
        return kExitInfra;
      }
    }
    if (config_.list_format == ListFormat::Json || config_.json == "-") {
      fmt::print("{}", planJson(*manifest_, plan_, config_, sel_, why_empty));
    } else {
      fmt::print("{}", planText(*manifest_, plan_));
      if (!why_empty.empty()) fmt::print("no tests selected: {}\n", printable(why_empty));
    }
    return 0;
  }
  if (sel_.shuffle_seed && config_.verbosity > 0)
    fmt::print("shuffle seed: {} (repeat with --shuffle --seed {})\n", *sel_.shuffle_seed, *sel_.shuffle_seed);
  int np = config_.np > 0 ? config_.np : cpuCount();
  np_ = std::max(1, std::min<int>(np, int(plan_.units.size())));
  return std::nullopt;
}

// The sandbox context, the spawner, the run directory and the sync service.
std::optional<int> RunSession::startServices() {
  if (auto rc = readySandbox(np_)) return rc;

  paths_.logs_dir = paths_.run_dir + "/logs";
  std::error_code ec;
  struct stat st;
  const bool fresh_state_dir = lstat(state_dir_.c_str(), &st) != 0 && errno == ENOENT;
  std::filesystem::create_directories(paths_.logs_dir, ec);
  if (ec) {
    fmt::print(stderr, "mpexec: cannot create {}: {} (use --state-dir)\n", paths_.logs_dir, ec.message());
    return kExitInfra;
  }
  paths_.run_dir = std::filesystem::canonical(paths_.run_dir).string();
  paths_.state_dir = std::filesystem::path(paths_.run_dir).parent_path().parent_path().string();
  paths_.logs_dir = paths_.run_dir + "/logs";
  state_fd_.reset(open(paths_.state_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  // Marked as pytest marks its cache: git and backups leave it alone. Only a directory of mpexec's own: a
  // --state-dir that was there already may be anything (the project itself).
  // The run's records are its owner's alone: a unit of another run (another project of this host) is an
  // unrelated uid, which would read 0755 directories and 0644 logs by their "other" bits.
  if (state_fd_ && (fresh_state_dir || config_.state_dir.empty())) {
    markStateDirectory(state_fd_.get());
    fchmod(state_fd_.get(), S_IRWXU);
  }
  run_fd_.reset(open(paths_.run_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (run_fd_) fchmod(run_fd_.get(), S_IRWXU);
  if (run_fd_) holdRunDirectory(run_fd_.get());  // another mpexec's --keep-runs leaves it alone
  // Units may write where the state and the reports go (a writable project): their paths are resolved now,
  // and written later without following a symlink planted meanwhile.
  state_file_ = paths_.state_dir + "/state.json";
  reports_.emplace(config_);
  for (std::string* p : {&reports_->json, &reports_->junit, &reports_->trace, &reports_->html, &reports_->report_dir})
    if (!p->empty()) {
      std::filesystem::path resolved = std::filesystem::weakly_canonical(std::filesystem::absolute(*p), ec);
      if (!ec) *p = resolved.string();
    }
  std::filesystem::path rel = std::filesystem::path(paths_.logs_dir).lexically_relative(manifest_->dir);
  paths_.log_prefix = rel.empty() || rel.native().rfind("..", 0) == 0 ? paths_.logs_dir : rel.string();

  sync::ServiceOptions sync_opts;
  sync_opts.run_dir_parent = syncDirParent();
  sync_opts.http_library = sandbox::findBesideExecutable(sync::kHttpLibraryName);
  sync_opts.tcp_bind = config_.sync_bind;
  // The wall-clock time of the run clock's zero, which every *_us time of the reports counts from.
  timespec wall{};
  clock_gettime(CLOCK_REALTIME, &wall);
  int64_t start_unix_us = int64_t(wall.tv_sec) * 1000000 + wall.tv_nsec / 1000 - clock_.nowUs();
  time_t start_s = time_t(start_unix_us / 1000000);
  struct tm start_tm;
  gmtime_r(&start_s, &start_tm);
  char start[32];
  strftime(start, sizeof start, "%Y-%m-%dT%H:%M:%S", &start_tm);
  sync_opts.run_info_json =
      fmt::format(R"({{"np": {}, "units": {}, "tests": {}, "run_id": "{}", "start": "{}.{:06}Z", "start_unix_us": {}}})",
                  np_, plan_.units.size(), plan_.tests.size(), paths_.run_id, start, start_unix_us % 1000000,
                  start_unix_us);
  batch_board_ = std::make_unique<BatchBoard>(clock_);
  sync_opts.results = batch_board_.get();
  std::string sync_error;
  sync_ = sync::Service::start(sync_opts, &sync_error);
  if (!sync_) {
    fmt::print(stderr, "mpexec: cannot start the sync service: {}\n", sync_error);
    return kExitInfra;
  }
  if (!sync_->tcpLoopbackOnly())
    fmt::print(stderr,
               "mpexec: warning: --sync-bind {} listens beyond this machine: the sync service speaks plain HTTP, "
               "so its tokens and data cross the network unencrypted; bind 127.0.0.1 unless tests on other "
               "machines must reach it\n",
               config_.sync_bind);
  if (!config_.sync_bind.empty() && config_.verbosity > 0)
    fmt::print("sync service: {} and tcp port {}\n", sync_->socketPath(), sync_->tcpPort());
  startPruning();  // after the spawner's fork, like every other thread
  return std::nullopt;
}

// Runs the plan once, or as often as --repeat and --until-fail say, keeping the history up to date.
void RunSession::dispatch() {
  if (!interrupt_) interrupt_.emplace();  // already there when gtest entries were listed
  LocalRunnerOptions ropts;
  ropts.slots = np_;
  ropts.kill_grace_ms = int64_t(config_.kill_grace_s * 1000);
  ropts.interrupt_fd = interrupt_->fd();
  ropts.tick_ms = tickMs();
  ropts.sync.socket_path = sync_->socketPath();
  ropts.sync.socket_dir = sync_->runDir();
  if (!sync_->tcpAddress().empty()) ropts.sync.tcp_url = "http://" + sync_->tcpAddress();
  ropts.sync.unit_starting = [&](const std::string& unit) { return sync_->registerUnit(unit); };
  ropts.sync.unit_ended = [&](const std::string& unit) { sync_->unitEnded(unit); };
  ropts.batch_board = batch_board_.get();
  const Manifest& m = *manifest_;
  bool wants_preload = false;
  for (const auto& [name, group] : m.groups) wants_preload |= group.batch && !group.batch->preload.empty();
  if (wants_preload && ctx_->isolation() == sandbox::Isolation::Namespaces) {
    std::error_code ec;
    std::string exe = std::filesystem::read_symlink("/proc/self/exe", ec).string();
    std::vector<std::string> writable;  // a unit of root leaves root's files there (docs/sandbox.md)
    for (const auto& t : m.tests) writable.insert(writable.end(), t.settings.sandbox.writable.begin(), t.settings.sandbox.writable.end());
    for (const auto& [name, group] : m.groups)
      writable.insert(writable.end(), group.settings.sandbox.writable.begin(), group.settings.sandbox.writable.end());
    preloads_ = std::make_unique<Preloads>(*ctx_, netns_ahead_, exe, std::move(writable));
    ropts.preloads = preloads_.get();
  }
  runner_ = std::make_unique<LocalRunner>(m, plan_, *ctx_, *spawner_->value(), paths_, clock_, ropts);

  const int iterations = config_.until_fail > 0 ? config_.until_fail : config_.repeat;
  ConsoleOptions copts;
  copts.output = config_.output;
  copts.verbosity = config_.verbosity;
  copts.color = colorWanted(config_.color, stdout);
  copts.status_line = statusLineWanted(config_.verbosity, stdout);
  copts.slow_us = int64_t(config_.slow_s * 1e6);
  copts.log_root = m.dir;
  copts.rerun_command = shellQuote(config_.program) + (config_.no_sandbox ? " --no-sandbox" : "") +
                        (config_.state_dir.empty() ? "" : " --state-dir " + shellQuote(config_.state_dir));
  copts.rerun_manifest = shellQuote(config_.manifest);
  copts.now_us = [this] { return clock_.nowUs(); };
  console_ = std::make_unique<Console>(m, plan_.tests.size() * size_t(iterations), std::move(copts));
  console_->setLogPaths([this](size_t t) { return runner_->logPath(t); });
  SchedulerOptions sopts;
  sopts.slots = np_;
  sopts.max_fail = config_.max_fail;
  sopts.retries = config_.retries;
  sopts.interrupted = [&] { return interrupt_->triggered(); };
  updated_.emplace(*history_);
  for (int k = 0; k < iterations; ++k) {
    if (iterations > 1 && config_.verbosity > 0) console_->line(fmt::format("iteration {}/{}", k + 1, iterations));
    sopts.last_run = k + 1 == iterations;
    Scheduler scheduler(plan_, m.tests.size(), *runner_, sopts, console_.get());
    results_.push_back(scheduler.run([&] { return clock_.nowUs(); }));
    const ScheduleResult& it = results_.back();
    // History: durations of what ran, and whether it failed; untouched for what did not run.
    for (size_t t : plan_.tests) {
      const TestRecord& r = it.records[t];
      if (r.outcome == Outcome::NotRun) continue;
      TestHistory h;
      const TestHistory* old = updated_->find(m.tests[t].name);
      h.duration_us = r.start_us >= 0 && r.end_us >= r.start_us ? r.end_us - r.start_us : (old ? old->duration_us : -1);
      h.failed = isFailure(r.outcome);
      updated_->record(m.tests[t].name, h);
    }
    if (it.interrupted || it.stopped_early) break;
    if (config_.until_fail > 0 && it.failures > 0) {
      if (config_.verbosity > 0) console_->line(fmt::format("failed in iteration {}", k + 1));
      break;
    }
  }
  // --repeat N planned N iterations: those an interrupt or --max-fail kept from starting are NOT_RUN, as
  // a started iteration's unstarted tests are (nothing planned disappears from a report). --until-fail
  // plans "up to N" and stops by design.
  const bool interrupted = results_.back().interrupted, stopped = results_.back().stopped_early;
  while (config_.until_fail == 0 && (interrupted || stopped) && int(results_.size()) < iterations) {
    ScheduleResult none;
    none.records.resize(m.tests.size());
    for (size_t t : plan_.tests) none.records[t].reason = interrupted ? "interrupted" : "not started: --max-fail reached";
    none.unit_problems.resize(plan_.units.size());
    none.unit_leaks.resize(plan_.units.size());
    none.interrupted = interrupted;
    none.stopped_early = stopped;
    results_.push_back(std::move(none));
  }
  wall_us_ = clock_.nowUs();
}

RunSession::~RunSession() {
  stop_pruning_ = true;
  if (pruner_.joinable()) pruner_.join();
}

void RunSession::startPruning() {
  if (config_.keep_runs <= 0 || !state_fd_) return;
  UniqueFd runs(openat(state_fd_.get(), "runs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!runs) return;
  pruner_ = std::thread([this, runs = std::move(runs)] {
    pruned_ = pruneRuns(runs.get(), size_t(config_.keep_runs), paths_.run_id, &stop_pruning_);
  });
}

void RunSession::finishPruning(bool interrupted, std::vector<std::string>& notes) {
  if (!pruner_.joinable()) return;
  if (interrupted) stop_pruning_ = true;  // what is left is left for the next run
  pruner_.join();
  std::string where = std::filesystem::path(paths_.log_prefix).parent_path().parent_path().string();
  if (!pruned_.removed.empty() && config_.verbosity > 0)
    notes.push_back(fmt::format("removed {} from {} (--keep-runs {}: the last {} are kept)",
                                pruned_.removed.size() == 1 ? "the oldest run directory"
                                                            : fmt::format("the {} oldest run directories", pruned_.removed.size()),
                                where, config_.keep_runs, config_.keep_runs));
  if (!interrupted)
    for (const std::string& p : pruned_.problems) notes.push_back("warning: an old run directory stays: " + p);
}

int RunSession::tickMs() const {
  if (config_.output == OutputMode::Streamed) return 100;
  int ms = -1;
  if (statusLineWanted(config_.verbosity, stdout)) ms = 1000;
  // A SLOW line within a quarter of the threshold of when it is due, and never more than 10 wake-ups a second.
  if (config_.slow_s > 0) ms = std::clamp(int(config_.slow_s * 250), 100, ms < 0 ? 1000 : ms);
  return ms;
}

std::string RunSession::whyNoTests() const {
  auto all = [](size_t n) { return n == 1 ? std::string("the 1 test") : fmt::format("all {} tests", n); };
  SelectionFunnel f = countSelection(*manifest_, *history_, sel_);
  if (f.manifest == 0) return fmt::format("{} has no tests", manifest_->path);
  if (f.filtered == 0) return fmt::format("--filter '{}' matches none of the manifest's tests ({})", config_.filter, f.manifest);
  if (f.not_excluded == 0)
    return fmt::format("--exclude '{}' leaves out {}{}", config_.exclude, all(f.filtered), sel_.filter ? " that --filter kept" : "");
  auto quoted = [](const std::vector<std::string>& res) {
    std::string out;
    for (const std::string& re : res) out += (out.empty() ? "'" : ", '") + re + "'";
    return out;
  };
  if (f.labelled == 0)
    return fmt::format("--label {} matches the labels of none of the {} tests left", quoted(config_.labels), f.not_excluded);
  if (f.not_label_excluded == 0)
    return fmt::format("--exclude-label {} leaves out {} left", quoted(config_.exclude_labels), all(f.labelled));
  if (f.failed_last == 0)
    return fmt::format("--rerun-failed: none of the {} selected failed when it last ran (state: {})",
                       f.not_label_excluded == 1 ? "1 test" : fmt::format("{} tests", f.not_label_excluded), state_file_);
  if (sel_.shard)
    return fmt::format("shard {}/{} got none of the selected tests' units ({}); more shards than units?",
                       sel_.shard->first, sel_.shard->second, f.failed_last);
  return "no test was selected";
}

// The exit code, from the outcomes and the units' problems, and the notes the summary ends with.
int RunSession::exitCodeAndNotes(const Combined& combined, std::vector<std::string>& notes) const {
  const ScheduleResult& result = combined.result;
  bool failed = false;
  for (size_t t : combined.plan.tests) failed |= isFailure(result.records[t].outcome);
  for (size_t u = 0; u < combined.plan.units.size(); ++u) {
    if (result.unit_problems[u].empty()) continue;
    const Unit& unit = combined.plan.units[u];
    notes.push_back(fmt::format("warning: unit {} ({}): {}", unit.id, unit.name, result.unit_problems[u]));
    failed = true;
  }
  for (size_t u = 0; u < combined.plan.units.size(); ++u) {
    // Not a failure: the processes were killed and nothing outlived the unit; but a test that leaves a
    // daemon behind usually means to stop it and did not (nextest reports such tests as LEAK too).
    if (result.unit_leaks[u] == 0) continue;
    const Unit& unit = combined.plan.units[u];
    notes.push_back(fmt::format("warning: unit {} ({}) left {} running after its last command; killed", unit.id, unit.name,
                                result.unit_leaks[u] == 1 ? std::string("1 process") : fmt::format("{} processes", result.unit_leaks[u])));
  }
  for (const auto& w : sync_->warnings()) notes.push_back("warning: sync: " + w);
  for (const auto& n : runner_->setupNotes()) notes.push_back("warning: sandbox: " + n);
  int code = result.interrupted ? kExitInterrupted : failed ? kExitFailed : kExitPassed;
  // Nothing ran: in CI that is a broken filter or shard more often than an intended empty run.
  if (plan_.tests.empty() && config_.no_tests == NoTests::Warn) notes.push_back("warning: no tests to run: " + whyNoTests());
  if (plan_.tests.empty() && config_.no_tests == NoTests::Fail && code == kExitPassed) code = kExitNoTests;
  return code;
}

// The state, the reports and the summary.
int RunSession::finish() {
  // No unit starts from here: the spawner exits (with the shared root and the namespaces it made ahead)
  // while the state and the reports are written.
  spawner_->value()->close();
  if (preloads_) preloads_->close();
  sync_->stop();
  Combined combined = combineIterations(*manifest_, plan_, std::move(results_));
  const ScheduleResult& result = combined.result;

  std::vector<std::string> notes;
  if (auto saved = updated_->save(state_file_); !saved.ok())
    notes.push_back("warning: state not saved: " + saved.error().message());
  int exit_code = exitCodeAndNotes(combined, notes);

  RunInfo info;
  info.run_id = paths_.run_id;
  info.np = np_;
  info.seed = sel_.shuffle_seed;
  info.shard = sel_.shard;
  info.sandbox = config_.no_sandbox ? "none" : "namespaces";
  info.sandbox_detail = ctx_->describe();
  info.limits = ctx_->limits();
  info.wall_us = wall_us_;
  info.exit_code = exit_code;
  info.warnings = notes;
  // The summary leads with these; the reports keep them with the other warnings.
  if (result.interrupted)
    info.warnings.push_back(fmt::format("interrupted by signal {}: every unit was killed", interrupt_->signal()));
  if (result.stopped_early)
    info.warnings.push_back(fmt::format("stopped starting units after {} failures", result.failures));
  if (exit_code == kExitNoTests) info.warnings.push_back("no tests to run: " + whyNoTests());
  for (const auto& op : sync_->operations())
    info.sync_ops.push_back({op.unit, op.op, op.key, op.status, op.result, clock_.toUs(op.start_ns), clock_.toUs(op.end_ns)});
  info.sync_ops_dropped = sync_->droppedOperations();
  const std::string& log_root = manifest_->dir;
  for (const auto& problem : writeReports({combined.manifest, combined.plan, result, info, log_root}, *reports_,
                                          paths_.run_dir, Follow::NoSymlinks)) {
    fmt::print(stderr, "mpexec: cannot write a report: {}\n", problem);
    if (exit_code == 0) exit_code = kExitInfra;
  }
  finishPruning(result.interrupted, notes);
  if (config_.verbosity > 0) {
    notes.push_back(fmt::format("np {}, sandbox: {}", np_, ctx_->describe()));
    notes.push_back(spawner_program_.empty() ? "spawner: a fork of mpexec (no mpexec-spawner beside it)"
                                             : "spawner: " + spawner_program_);
    if (preloads_)
      for (std::string& note : preloads_->notes()) notes.push_back(std::move(note));
    notes.push_back(fmt::format("logs: {}", paths_.log_prefix));
    if (runner_ && runner_->sandboxedUnits() > 0)
      notes.push_back(fmt::format("sandboxes: {} of {} units ran in a sandbox an earlier unit left clean",
                                  runner_->recycledUnits(), runner_->sandboxedUnits()));
  }
  SummaryHeadline headline;
  if (result.interrupted) headline.interrupt_signal = interrupt_->signal();
  if (result.stopped_early) headline.max_fail = config_.max_fail;
  console_->summary(combined.manifest, combined.plan.tests, result, wall_us_, headline, notes);
  if (exit_code == kExitNoTests)
    fmt::print(stderr, "mpexec: no tests to run: {} (exit {}; --no-tests=warn or pass accepts an empty run)\n",
               printable(whyNoTests()), kExitNoTests);
  return exit_code;
}

}  // namespace

int run(const Config& config) {
  RunSession session(config);
  session.startEarly();
  if (auto rc = session.loadInputs()) return *rc;
  if (auto rc = session.selectTests()) return *rc;
  if (auto rc = session.startServices()) return *rc;
  session.dispatch();
  return session.finish();
}

}  // namespace mpexec
