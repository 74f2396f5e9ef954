#include "executor/listing_units.h"

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>

#include "executor/clock.h"
#include "executor/history.h"
#include "executor/input_file.h"
#include "executor/local_runner.h"
#include "executor/plan.h"
#include "executor/program_lookup.h"
#include "executor/scheduler.h"

namespace mpexec {

namespace {

constexpr std::size_t kMaxListing = 64u << 20;  // as listGtestCases reads at most

/// A private directory (0700) for the listings' logs and output directories, removed with what is in it.
class ScratchDir {
 public:
  ScratchDir() {
    const char* tmpdir = getenv("TMPDIR");
    std::string base = tmpdir && tmpdir[0] == '/' ? tmpdir : "/tmp";
    std::string tmpl = base + "/mpexec-list.XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
      tmpl = "/tmp/mpexec-list.XXXXXX";
      if (mkdtemp(tmpl.data()) == nullptr) return;
    }
    std::error_code ec;
    path_ = std::filesystem::canonical(tmpl, ec).string();
    if (ec) path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);  // does not follow symlinks
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

/// What a listing unit's test record says of the listing.
Result<std::vector<std::string>> listingOf(const TestRecord& r, std::chrono::milliseconds timeout) {
  auto log = [&]() -> Result<std::string> { return readInputFile(r.log, kMaxListing); };
  switch (r.outcome) {
    case Outcome::Pass: {
      auto out = log();
      if (!out.ok()) return Error{{}, 0, "its output cannot be read back: " + out.error().message()};
      return gtestListingResult(0, *out, {});
    }
    case Outcome::Fail: {
      auto out = log();
      return gtestListingResult(W_EXITCODE(r.exit_code.value_or(1), 0), {}, out.ok() ? *out : std::string());
    }
    case Outcome::Crash:
      return gtestListingResult(W_EXITCODE(0, r.signal.value_or(SIGKILL)), {}, {});
    case Outcome::Timeout:
      return Error{{}, 0, fmt::format("did not finish within {} ms", timeout.count())};
    default:
      return Error{{}, 0, r.reason.empty() ? std::string("it did not run") : r.reason};
  }
}

}  // namespace

std::vector<Result<std::vector<std::string>>> listInSandboxUnits(Manifest m,
                                                                  const std::vector<ListingRequest>& requests,
                                                                  const sandbox::Context& ctx,
                                                                  sandbox::Spawner& spawner,
                                                                  const ListingUnitsOptions& opts) {
  std::vector<Result<std::vector<std::string>>> out(requests.size(), std::vector<std::string>{});
  // The listing units are tests appended to the manifest, each its own free unit; the manifest's own tests
  // stay (for the writable paths a symlink may hide in) but are not planned.
  Plan plan;
  plan.phases.emplace_back();
  std::vector<size_t> unit_of(requests.size(), SIZE_MAX);
  for (size_t i = 0; i < requests.size(); ++i) {
    const ListingRequest& q = requests[i];
    // Nothing to run for a binary that is not there (a partial build): say so without a sandbox.
    std::string problem = q.bin.find('/') == std::string::npos ? fmt::format("{} is not in PATH", q.bin)
                                                               : executableProblem(q.bin);
    if (!problem.empty()) {
      out[i] = Error{{}, 0, problem};
      continue;
    }
    TestSpec t;
    t.name = q.bin + " --gtest_list_tests";
    t.cmd = {q.bin, "--gtest_list_tests"};
    t.settings = q.settings;
    t.settings.cwd = q.opts.cwd.empty() ? q.settings.cwd : q.opts.cwd;
    t.settings.timeout_s = double(q.opts.timeout.count()) / 1000;
    t.skip_exit_code = std::nullopt;  // every exit but 0 is a failed listing
    Unit u;
    u.id = fmt::format("gtest-list-{}", plan.units.size() + 1);
    u.name = t.name;
    u.tests = {m.tests.size()};
    unit_of[i] = plan.units.size();
    plan.phases.back().units.push_back(plan.units.size());
    plan.tests.push_back(m.tests.size());
    plan.units.push_back(std::move(u));
    m.tests.push_back(std::move(t));
  }
  if (plan.units.empty()) return out;

  ScratchDir scratch;
  if (scratch.path().empty()) {
    Error e = sysError("mkdtemp", "a directory for the listings");
    for (size_t i = 0; i < requests.size(); ++i)
      if (unit_of[i] != SIZE_MAX) out[i] = e;
    return out;
  }
  RunPaths paths;
  paths.run_id = "gtest-list";
  std::error_code ec;
  std::filesystem::path state = std::filesystem::weakly_canonical(std::filesystem::absolute(opts.state_dir), ec);
  paths.state_dir = ec ? opts.state_dir : state.string();
  paths.run_dir = scratch.path();
  paths.logs_dir = scratch.path() + "/logs";
  paths.log_prefix = paths.logs_dir;
  std::filesystem::create_directory(paths.logs_dir, ec);

  RunClock clock;
  LocalRunnerOptions ropts;
  ropts.slots = std::max(1, std::min<int>(opts.slots, int(plan.units.size())));
  ropts.kill_grace_ms = opts.kill_grace_ms;
  ropts.interrupt_fd = opts.interrupt_fd;
  ScheduleResult result;
  {
    LocalRunner runner(m, plan, ctx, spawner, paths, clock, ropts);
    SchedulerOptions sopts;
    sopts.slots = ropts.slots;
    sopts.interrupted = opts.interrupted;
    Scheduler scheduler(plan, m.tests.size(), runner, sopts);
    result = scheduler.run([&] { return clock.nowUs(); });
  }  // every listing unit killed and reaped, idle sandboxes too
  for (size_t i = 0; i < requests.size(); ++i) {
    if (unit_of[i] == SIZE_MAX) continue;
    out[i] = listingOf(result.records[plan.units[unit_of[i]].tests[0]], requests[i].opts.timeout);
  }
  return out;
}

}  // namespace mpexec
