#include "executor/import/ctest_program.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <vector>

#include <fmt/format.h>

#include "executor/import/ctest_regex.h"
#include "sandbox/unique_fd.h"

extern char** environ;

namespace mpexec {

namespace {

struct CtestRun {
  std::string out;
  int status = 0;  ///< waitpid's
};

// Runs `ctest ARGS...` in `dir` with stdin on /dev/null and stderr ours, and collects its stdout.
Result<CtestRun> runCtest(const std::string& dir, std::vector<std::string> args) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) return sysError("pipe2");
  UniqueFd out_r(fds[0]), out_w(fds[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_w.get(), 1);
  posix_spawn_file_actions_addchdir_np(&actions, dir.c_str());
  args.insert(args.begin(), "ctest");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, "ctest", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return Error{"cannot run ctest", rc, {}};
  out_w.reset();
  CtestRun run;
  char buf[65536];
  while (true) {
    ssize_t n = read(out_r.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    run.out.append(buf, std::size_t(n));
  }
  while (waitpid(pid, &run.status, 0) < 0 && errno == EINTR) {
  }
  return run;
}

}  // namespace

Result<std::string> ctestShowOnly(const std::string& build_dir, const std::string& config) {
  std::vector<std::string> args = {"--show-only=json-v1"};
  if (!config.empty()) args.insert(args.end(), {"-C", config});
  auto run = runCtest(build_dir, std::move(args));
  if (!run.ok()) return run.error();
  int st = run->status;
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    return Error{{}, 0, fmt::format("ctest --show-only=json-v1 failed in {} (status {:#x}); is it a CMake build directory?", build_dir, st)};
  return std::move(run->out);
}

int ctestMaxRegexGroups(const std::string& build_dir) {
  auto run = runCtest(build_dir, {"--version"});
  int major = 0, minor = 0;
  if (run.ok() && sscanf(run->out.c_str(), "ctest version %d.%d", &major, &minor) == 2 &&
      (major < 3 || (major == 3 && minor < 26)))
    return kCtestMaxGroupsBefore326;
  return kCtestMaxGroups;
}

}  // namespace mpexec
