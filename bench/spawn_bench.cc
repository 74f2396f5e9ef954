// One unit of /bin/true, start to reaped (DESIGN §9, issue 3): the full sandbox (namespaces, mounts,
// seccomp, and the cgroup backend this host has); without namespaces (Isolation::None), start to Done in
// a reused init, as --no-sandbox runs them; and posix_spawn + waitpid as the floor, in the same run.
// Medians of 5 repetitions, wall time.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sandbox/context.h"
#include "sandbox/spawner.h"
#include "sandbox/unique_fd.h"
#include "sandbox/unit_process.h"

extern char** environ;

namespace mpexec::sandbox {
namespace {

/// A log directory for the benchmark's units, removed at exit.
struct LogDir {
  std::string path;
  UniqueFd fd;
  LogDir() {
    char tmpl[] = "/tmp/mpexec-spawn-bench-XXXXXX";
    if (mkdtemp(tmpl)) path = tmpl;
    fd.reset(open(path.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  }
  ~LogDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

LogDir& logDir() {
  static LogDir d;
  return d;
}

/// One Context per isolation for the whole program, as in a run (created once: probe, cgroups, seccomp).
const Context* context(Isolation iso, std::string* why) {
  static std::map<Isolation, Result<std::unique_ptr<Context>>> made;
  auto it = made.find(iso);
  if (it == made.end()) it = made.emplace(iso, Context::create(iso)).first;
  if (!it->second.ok()) {
    *why = it->second.error().message();
    return nullptr;
  }
  return it->second.value().get();
}

/// One spawner per context, as in a run.
Spawner* spawnerFor(const Context& ctx, std::string* why) {
  static std::map<const Context*, std::unique_ptr<Spawner>> made;
  auto& s = made[&ctx];
  if (!s) {
    // mpexec-spawner as the build leaves it, one directory up from bench/, as mpexec runs it (without it,
    // the spawner is a fork of this program).
    auto started = Spawner::start(ctx, 0, Spawner::findProgram(1));
    if (!started.ok()) {
      *why = started.error().message();
      return nullptr;
    }
    s = std::move(started.value());
  }
  return s.get();
}

UnitSpec trueUnit(Isolation iso) {
  CommandSpec c;
  c.role = Role::Test;
  c.argv = {"/bin/true"};
  c.env = {"PATH=/usr/bin:/bin"};
  c.cwd = "/";
  c.timeout_ms = 10000;
  c.log_name = "true.log";
  UnitSpec u;
  u.name = "bench";
  u.isolation = iso;
  u.commands.push_back(std::move(c));
  u.log_dir_fd = logDir().fd.get();
  return u;
}

void BM_SpawnUnit(benchmark::State& state) {
  auto iso = static_cast<Isolation>(state.range(0));
  std::string why;
  const Context* ctx = context(iso, &why);
  if (!ctx) {
    state.SkipWithError(("no context: " + why).c_str());
    return;
  }
  Spawner* spawner = spawnerFor(*ctx, &why);
  if (!spawner) {
    state.SkipWithError(("no spawner: " + why).c_str());
    return;
  }
  UnitSpec spec = trueUnit(iso);
  std::vector<Event> events;
  // Without namespaces an init that is done takes the next unit (as with --no-sandbox): from the second
  // iteration on, each one runs in the previous one's init, and ends at Done. With them, every unit is
  // a new sandbox, timed until its init is reaped.
  const bool reuse = iso == Isolation::None;
  std::optional<UnitProcess> p;
  for (auto _ : state) {
    if (!(reuse && p && p->runNext(spec))) {
      p.reset();
      auto spawned = spawner->spawn(spec);
      if (!spawned.ok()) {
        state.SkipWithError(("spawn: " + spawned.error().message()).c_str());
        break;
      }
      p.emplace(std::move(spawned.value()));
    }
    events.clear();
    while (p->readEvents(events) && !(reuse && p->done())) {
      pollfd fds[2] = {{p->eventFd(), POLLIN, 0}, {p->pidFd(), POLLIN, 0}};
      poll(fds, 2, 1000);
    }
    bool passed = false;
    for (const auto& e : events)
      if (e.kind == Event::Kind::Exited && e.wait_status == 0) passed = true;
    if (!passed) {
      state.SkipWithError("/bin/true did not exit 0 in the unit");
      break;
    }
  }
  state.SetLabel(iso == Isolation::Namespaces ? ctx->describe() : "no namespaces: the previous unit's init, start to Done");
}

void BM_PosixSpawn(benchmark::State& state) {
  char arg0[] = "/bin/true";
  char* argv[] = {arg0, nullptr};
  for (auto _ : state) {
    pid_t pid;
    if (posix_spawn(&pid, "/bin/true", nullptr, nullptr, argv, environ) != 0) {
      state.SkipWithError("posix_spawn failed");
      break;
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (status != 0) {
      state.SkipWithError("/bin/true failed");
      break;
    }
  }
  state.SetLabel("posix_spawn + waitpid");
}

BENCHMARK(BM_PosixSpawn)->Repetitions(5)->ReportAggregatesOnly(true)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SpawnUnit)
    ->Arg(static_cast<int>(Isolation::None))
    ->Arg(static_cast<int>(Isolation::Namespaces))
    ->Repetitions(5)
    ->ReportAggregatesOnly(true)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace mpexec::sandbox

BENCHMARK_MAIN();
