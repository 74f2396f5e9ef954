// run(config): manifest → plan → sandbox context → dispatch → reports. Every step's failure maps to an
// exit code of DESIGN §6.

#include <sched.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>

#include <fmt/format.h>

#include "executor/clock.h"
#include "executor/config.h"
#include "executor/console.h"
#include "executor/history.h"
#include "executor/interrupt.h"
#include "executor/local_runner.h"
#include "executor/manifest.h"
#include "executor/plan.h"
#include "executor/repeat.h"
#include "executor/reports.h"
#include "executor/scheduler.h"
#include "executor/shard_env.h"
#include "sandbox/context.h"
#include "sandbox/spawner.h"
#include "sync-service/server.h"

namespace mpexec {

namespace {

constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitInfra = 3;
constexpr int kExitInterrupted = 130;

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

std::string makeRunId() {
  time_t now = time(nullptr);
  struct tm tm;
  gmtime_r(&now, &tm);
  char stamp[32];
  strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
  return fmt::format("{}-{}", stamp, getpid());
}

void printPlan(const Manifest& m, const Plan& plan) {
  for (size_t p = 0; p < plan.phases.size(); ++p) {
    const Phase& phase = plan.phases[p];
    if (phase.group.empty()) {
      fmt::print("pool ({} units)\n", phase.units.size());
    } else {
      fmt::print("window {}: group {} ({}), behind a barrier\n", p + 1, phase.group,
                 phase.one_at_a_time ? "isolated_serial" : "isolated_free");
    }
    for (size_t u : phase.units) {
      const Unit& unit = plan.units[u];
      fmt::print("  {} {}{}\n", unit.id, strategyName(unit.strategy), unit.group.empty() ? "" : " [" + unit.group + "]");
      for (size_t t : unit.tests) fmt::print("    {}\n", m.tests[t].name);
    }
  }
  fmt::print("{} tests in {} units, {} phases\n", plan.tests.size(), plan.units.size(), plan.phases.size());
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

}  // namespace

int run(const Config& config) {
  RunClock clock;
  // Started before the manifest is read, to run on another core meanwhile: the spawner program (which, as
  // root, prepares what units share) and the namespace probe. Their errors are reported after the manifest's.
  auto isolation = config.no_sandbox ? sandbox::Isolation::None : sandbox::Isolation::Namespaces;
  bool sandboxed = isolation == sandbox::Isolation::Namespaces && !config.list;
  std::string spawner_program = config.list ? std::string() : sandbox::Spawner::findProgram();
  auto spawner = sandbox::Spawner::launch(spawner_program, sandboxed);
  auto pending_ctx = sandbox::Context::begin(sandboxed ? isolation : sandbox::Isolation::None);
  ManifestOptions mopts;
  mopts.default_timeout_s = config.timeout_s;
  auto loaded = loadManifest(config.manifest, mopts);
  if (!loaded.ok()) {
    fmt::print(stderr, "mpexec: {}\n", loaded.error().message());
    return kExitUsage;
  }
  const Manifest& m = loaded.value();

  std::string state_dir = config.state_dir.empty() ? m.dir + "/.mpexec" : config.state_dir;
  std::string state_file = state_dir + "/state.json";
  auto history = History::load(state_file);
  if (!history.ok()) {
    fmt::print(stderr, "mpexec: {}\n", history.error().message());
    return kExitUsage;
  }

  Selection sel;
  std::string re_error;
  sel.filter = compile(config.filter, "--filter", re_error);
  if (re_error.empty()) sel.exclude = compile(config.exclude, "--exclude", re_error);
  if (!re_error.empty()) {
    fmt::print(stderr, "mpexec: {}\n", re_error);
    return kExitUsage;
  }
  sel.only_failed = config.rerun_failed;
  sel.shard = config.shard;
  std::optional<History> shard_durations;
  if (!config.shard_by_durations.empty()) {
    auto d = loadShardDurations(config.shard_by_durations);
    if (!d.ok()) {
      fmt::print(stderr, "mpexec: {}\n", d.error().message());
      return kExitUsage;
    }
    shard_durations = std::move(d.value());
    sel.shard_durations = &*shard_durations;
  }
  if (config.shuffle) {
    uint64_t seed = 0;
    if (config.seed) {
      seed = *config.seed;
    } else if (getrandom(&seed, sizeof seed, 0) != ssize_t(sizeof seed)) {
      seed = uint64_t(clock.start_ns);
    }
    sel.shuffle_seed = seed;
  }
  Plan plan = makePlan(m, history.value(), sel);
  if (config.list) {
    printPlan(m, plan);
    return 0;
  }
  if (sel.shuffle_seed && config.verbosity > 0) fmt::print("shuffle seed: {} (repeat with --shuffle --seed {})\n", *sel.shuffle_seed, *sel.shuffle_seed);

  int np = config.np > 0 ? config.np : cpuCount();
  np = std::max(1, std::min<int>(np, int(plan.units.size())));

  auto ctx = sandbox::Context::finish(std::move(pending_ctx));
  if (!ctx.ok()) {
    fmt::print(stderr, "mpexec: {}\n", ctx.error().message());
    return kExitInfra;
  }
  // Before any thread starts: without mpexec-spawner, the spawner is a fork of this process as it is now.
  Result<void> serving = spawner.ok() ? spawner.value()->serve(*ctx.value(), np) : Result<void>(spawner.error());
  if (!serving.ok()) {
    fmt::print(stderr, "mpexec: cannot start the spawner process: {}\n", serving.error().message());
    return kExitInfra;
  }

  RunPaths paths;
  paths.run_id = makeRunId();
  paths.run_dir = state_dir + "/runs/" + paths.run_id;
  paths.logs_dir = paths.run_dir + "/logs";
  std::error_code ec;
  std::filesystem::create_directories(paths.logs_dir, ec);
  if (ec) {
    fmt::print(stderr, "mpexec: cannot create {}: {} (use --state-dir)\n", paths.logs_dir, ec.message());
    return kExitInfra;
  }
  paths.run_dir = std::filesystem::canonical(paths.run_dir).string();
  paths.logs_dir = paths.run_dir + "/logs";
  std::filesystem::path rel = std::filesystem::path(paths.logs_dir).lexically_relative(m.dir);
  paths.log_prefix = rel.empty() || rel.native().rfind("..", 0) == 0 ? paths.logs_dir : rel.string();

  sync::ServiceOptions sync_opts;
  sync_opts.slots = size_t(np);
  sync_opts.run_dir_parent = syncDirParent();
  sync_opts.http_library = sandbox::findBesideExecutable(sync::kHttpLibraryName);
  sync_opts.tcp_bind = config.sync_bind;
  sync_opts.run_info_json = fmt::format(R"({{"np": {}, "units": {}, "tests": {}, "run_id": "{}"}})", np,
                                        plan.units.size(), plan.tests.size(), paths.run_id);
  std::string sync_error;
  auto sync_service = sync::Service::start(sync_opts, &sync_error);
  if (!sync_service) {
    fmt::print(stderr, "mpexec: cannot start the sync service: {}\n", sync_error);
    return kExitInfra;
  }
  if (!config.sync_bind.empty() && config.verbosity > 0)
    fmt::print("sync service: {} and tcp port {}\n", sync_service->socketPath(), sync_service->tcpPort());

  InterruptWatch interrupt;
  LocalRunnerOptions ropts;
  ropts.slots = np;
  ropts.kill_grace_ms = int64_t(config.kill_grace_s * 1000);
  ropts.interrupt_fd = interrupt.fd();
  if (config.output == OutputMode::Streamed) ropts.tick_ms = 100;
  ropts.sync.socket_path = sync_service->socketPath();
  ropts.sync.socket_dir = sync_service->runDir();
  ropts.sync.unit_starting = [&](const std::string& unit) { return sync_service->registerUnit(unit); };
  ropts.sync.unit_ended = [&](const std::string& unit) { sync_service->unitEnded(unit); };
  LocalRunner runner(m, plan, *ctx.value(), *spawner.value(), paths, clock, ropts);

  const int iterations = config.until_fail > 0 ? config.until_fail : config.repeat;
  Console console(m, plan.tests.size() * size_t(iterations), config.output, config.verbosity, m.dir);
  console.setLogPaths([&](size_t t) { return runner.logPath(t); });
  SchedulerOptions sopts;
  sopts.slots = np;
  sopts.max_fail = config.max_fail;
  sopts.retries = config.retries;
  sopts.interrupted = [&] { return interrupt.triggered(); };
  std::vector<ScheduleResult> results;
  History updated = history.value();
  for (int k = 0; k < iterations; ++k) {
    if (iterations > 1 && config.verbosity > 0) fmt::print("iteration {}/{}\n", k + 1, iterations);
    Scheduler scheduler(plan, m.tests.size(), runner, sopts, &console);
    results.push_back(scheduler.run([&] { return clock.nowUs(); }));
    const ScheduleResult& it = results.back();
    // History: durations of what ran, and whether it failed; untouched for what did not run.
    for (size_t t : plan.tests) {
      const TestRecord& r = it.records[t];
      if (r.outcome == Outcome::NotRun) continue;
      TestHistory h;
      const TestHistory* old = updated.find(m.tests[t].name);
      h.duration_us = r.start_us >= 0 && r.end_us >= r.start_us ? r.end_us - r.start_us : (old ? old->duration_us : -1);
      h.failed = isFailure(r.outcome);
      updated.record(m.tests[t].name, h);
    }
    if (it.interrupted || it.stopped_early) break;
    if (config.until_fail > 0 && it.failures > 0) {
      if (config.verbosity > 0) fmt::print("failed in iteration {}\n", k + 1);
      break;
    }
  }
  int64_t wall_us = clock.nowUs();
  // No unit starts from here: the spawner exits (with the shared root and the namespaces it made ahead)
  // while the state and the reports are written.
  spawner.value()->close();
  sync_service->stop();
  Combined combined = combineIterations(m, plan, std::move(results));
  const ScheduleResult& result = combined.result;

  std::vector<std::string> notes;
  if (auto saved = updated.save(state_file); !saved.ok())
    notes.push_back("warning: state not saved: " + saved.error().message());

  bool failed = false;
  for (size_t t : combined.plan.tests) failed |= isFailure(result.records[t].outcome);
  for (size_t u = 0; u < combined.plan.units.size(); ++u) {
    if (result.unit_problems[u].empty()) continue;
    const Unit& unit = combined.plan.units[u];
    notes.push_back(fmt::format("warning: unit {} ({}): {}", unit.id, unit.name, result.unit_problems[u]));
    failed = true;
  }
  int exit_code = result.interrupted ? kExitInterrupted : failed ? kExitFailed : 0;
  if (result.stopped_early) notes.push_back(fmt::format("stopped starting units after {} failures", result.failures));
  for (const auto& w : sync_service->warnings()) notes.push_back("warning: sync: " + w);
  if (result.interrupted) notes.push_back(fmt::format("interrupted by signal {}: every unit was killed", interrupt.signal()));

  RunInfo info;
  info.run_id = paths.run_id;
  info.np = np;
  info.seed = sel.shuffle_seed;
  info.shard = sel.shard;
  info.sandbox = config.no_sandbox ? "none" : "namespaces";
  info.sandbox_detail = ctx.value()->describe();
  info.limits = ctx.value()->limits();
  info.wall_us = wall_us;
  info.exit_code = exit_code;
  info.warnings = notes;
  for (const auto& op : sync_service->operations())
    info.sync_ops.push_back({op.unit, op.op, op.key, op.status, op.result, clock.toUs(op.start_ns), clock.toUs(op.end_ns)});
  info.sync_ops_dropped = sync_service->droppedOperations();
  for (const auto& problem : writeReports({combined.manifest, combined.plan, result, info, m.dir}, config, paths.run_dir)) {
    fmt::print(stderr, "mpexec: cannot write a report: {}\n", problem);
    if (exit_code == 0) exit_code = kExitInfra;
  }
  if (config.verbosity > 0) {
    notes.push_back(fmt::format("np {}, sandbox: {}", np, ctx.value()->describe()));
    notes.push_back(spawner_program.empty() ? "spawner: a fork of mpexec (no mpexec-spawner beside it)"
                                            : "spawner: " + spawner_program);
    notes.push_back(fmt::format("logs: {}", paths.log_prefix));
  }
  console.summary(combined.manifest, combined.plan.tests, result, wall_us, notes);
  return exit_code;
}

}  // namespace mpexec
