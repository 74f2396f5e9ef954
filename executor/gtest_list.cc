#include "executor/gtest_list.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cstring>
#include <utility>

#include "executor/printable.h"
#include "executor/utf8.h"
#include "sandbox/unique_fd.h"

extern char** environ;

namespace mpexec {

namespace {

bool isBlank(char c) { return c == ' ' || c == '\t'; }

std::string_view firstToken(std::string_view line) {
  std::size_t b = 0;
  while (b < line.size() && isBlank(line[b])) ++b;
  std::size_t e = b;
  while (e < line.size() && !isBlank(line[e])) ++e;
  return line.substr(b, e - b);
}

// gtest's own rule (kDisableTestFilter "DISABLED_*:*/DISABLED_*"), applied to suite and case separately.
bool isDisabled(std::string_view name) {
  return name.starts_with("DISABLED_") || name.find("/DISABLED_") != std::string_view::npos;
}


}  // namespace

Result<std::vector<std::string>> parseGtestListing(std::string_view listing) {
  std::vector<std::string> cases;
  std::string_view suite;  // empty: not inside a suite
  std::size_t line_no = 0;
  while (!listing.empty()) {
    ++line_no;
    std::size_t nl = listing.find('\n');
    std::string_view line = listing.substr(0, nl);
    listing = nl == std::string_view::npos ? std::string_view{} : listing.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::string_view token = firstToken(line);  // names never hold blanks; comments follow "  # "
    if (token.empty()) continue;
    if (!isBlank(line.front())) {
      suite = token.size() > 1 && token.back() == '.' ? token.substr(0, token.size() - 1) : std::string_view{};
      continue;
    }
    if (suite.empty() || token.front() == '#') continue;
    if (isDisabled(suite) || isDisabled(token)) continue;
    // A name becomes a test's name, shown on terminals and written into reports.
    if (!isControlFree(suite) || !isControlFree(token)) {
      return Error{{}, 0, fmt::format("line {} of the listing names {}.{}, with a control character or invalid UTF-8",
                                      line_no, printable(suite), printable(token))};
    }
    std::string name;
    name.reserve(suite.size() + 1 + token.size());
    name.append(suite).append(".").append(token);
    cases.push_back(std::move(name));
  }
  return cases;
}

namespace {

constexpr std::size_t kMaxListing = 64u << 20;  // a listing this large is not a gtest listing
constexpr std::size_t kMaxStderr = 4096;        // enough to say why it failed

// The spawned lister. Its destructor kills its whole process group and reaps it, so no early return
// leaves a process behind.
class ListerProcess {
 public:
  explicit ListerProcess(pid_t pid) : pid_(pid) {}
  ListerProcess(const ListerProcess&) = delete;
  ListerProcess& operator=(const ListerProcess&) = delete;
  ~ListerProcess() {
    if (pid_ > 0) {
      killGroup();
      int st;
      while (waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
      }
    }
  }

  // Whether the lister has exited, without reaping it: while it is an unreaped zombie its pid, and so
  // its process group id, cannot be reused, which keeps killGroup() aimed at our own processes.
  bool exited() {
    siginfo_t si{};
    return waitid(P_PID, pid_, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid_;
  }

  void killGroup() { ::kill(-pid_, SIGKILL); }

  int reap() {
    int st = 0;
    while (waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return st;
  }

 private:
  pid_t pid_;
};

// posix_spawn's attributes and file actions, destroyed on every path.
struct SpawnSetup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
};

std::string firstLine(const std::string& s) {
  std::size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  std::size_t e = s.find('\n', b);
  std::string line = s.substr(b, e == std::string::npos ? std::string::npos : e - b);
  while (!line.empty() && (line.back() == '\r' || isBlank(line.back()))) line.pop_back();
  return line;
}

}  // namespace

Result<std::vector<std::string>> listGtestCases(const std::string& bin) { return listGtestCases(bin, {}); }

Result<std::vector<std::string>> listGtestCases(const std::string& bin, const GtestListOptions& opts) {
  int out_fds[2], err_fds[2];
  if (pipe2(out_fds, O_CLOEXEC) < 0) return sysError("pipe2");
  UniqueFd out_r(out_fds[0]), out_w(out_fds[1]);
  if (pipe2(err_fds, O_CLOEXEC) < 0) return sysError("pipe2");
  UniqueFd err_r(err_fds[0]), err_w(err_fds[1]);

  SpawnSetup s;
  posix_spawn_file_actions_addopen(&s.actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&s.actions, out_w.get(), 1);
  posix_spawn_file_actions_adddup2(&s.actions, err_w.get(), 2);
  if (!opts.cwd.empty()) posix_spawn_file_actions_addchdir_np(&s.actions, opts.cwd.c_str());
  // Its own process group, so a timeout kills whatever it forked too; default signal dispositions and an
  // empty mask, whatever mpexec's threads have blocked.
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setflags(&s.attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&s.attr, 0);
  posix_spawnattr_setsigmask(&s.attr, &none);
  posix_spawnattr_setsigdefault(&s.attr, &all);

  std::string flag = "--gtest_list_tests";
  char* argv[] = {const_cast<char*>(bin.c_str()), flag.data(), nullptr};
  std::vector<char*> envp;
  if (opts.env) {
    for (const std::string& kv : *opts.env) envp.push_back(const_cast<char*>(kv.c_str()));
    envp.push_back(nullptr);
  }
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, bin.c_str(), &s.actions, &s.attr, argv, opts.env ? envp.data() : environ);
  if (rc != 0) return Error{"posix_spawn", rc, {}};
  ListerProcess child(pid);
  // Readable once the lister has exited, so that the wait below ends then rather than at its next tick.
  UniqueFd exit_fd(int(syscall(SYS_pidfd_open, pid, 0)));
  out_w.reset();
  err_w.reset();

  std::string out, err;
  const auto deadline = std::chrono::steady_clock::now() + opts.timeout;
  bool killed_leftovers = false;
  char buf[65536];
  // Until both pipes are at EOF and the lister has exited (its pidfd turns readable; without one, as
  // before Linux 5.3, the poll() below is a short sleep once no pipe is left).
  while (out_r || err_r || !child.exited()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return Error{{}, 0, fmt::format("did not finish within {} ms", opts.timeout.count())};
    }
    pollfd pfds[3];
    nfds_t n = 0;
    if (out_r) pfds[n++] = {out_r.get(), POLLIN, 0};
    if (err_r) pfds[n++] = {err_r.get(), POLLIN, 0};
    if (exit_fd) pfds[n++] = {exit_fd.get(), POLLIN, 0};
    // Wake up now and then: once the lister itself is gone, whatever it left holding our pipes is killed.
    int pr = poll(pfds, n, static_cast<int>(std::min<long>(left.count(), 100)));
    if (pr < 0 && errno != EINTR) return sysError("poll");
    for (nfds_t i = 0; pr > 0 && i < n; ++i) {
      if (pfds[i].revents == 0) continue;
      if (pfds[i].fd == exit_fd.get()) {
        exit_fd.reset();  // exited: child.exited() says so from now on
        continue;
      }
      bool is_out = out_r && pfds[i].fd == out_r.get();
      ssize_t got = read(pfds[i].fd, buf, sizeof buf);
      if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (got <= 0) {
        (is_out ? out_r : err_r).reset();
        continue;
      }
      if (is_out) {
        if (out.size() + got > kMaxListing) return Error{{}, 0, "printed more than 64 MiB"};
        out.append(buf, got);
      } else if (err.size() < kMaxStderr) {
        err.append(buf, std::min<std::size_t>(got, kMaxStderr - err.size()));
      }
    }
    if (!killed_leftovers && (out_r || err_r) && child.exited()) {
      child.killGroup();
      killed_leftovers = true;
    }
  }
  return gtestListingResult(child.reap(), out, err);
}

Result<std::vector<std::string>> gtestListingResult(int wait_status, std::string_view out, const std::string& err) {
  if (WIFSIGNALED(wait_status)) {
    int sig = WTERMSIG(wait_status);
    return Error{{}, 0, fmt::format("killed by signal {} ({})", sig, strsignal(sig))};
  }
  if (WEXITSTATUS(wait_status) != 0) {
    std::string why = firstLine(err);
    return Error{{}, 0, fmt::format("exited with status {}{}{}", WEXITSTATUS(wait_status), why.empty() ? "" : ": ", why)};
  }
  return parseGtestListing(out);
}

std::string gtestSuiteOf(const std::vector<std::string>& cmd) {
  constexpr std::string_view kFilter = "--gtest_filter=";
  std::string suite;
  for (std::size_t i = 1; i < cmd.size(); ++i) {
    std::string_view a = cmd[i];
    if (!a.starts_with(kFilter)) continue;
    a.remove_prefix(kFilter.size());
    std::size_t dot = a.find('.');
    if (dot == 0 || dot == std::string_view::npos || dot + 1 == a.size() ||
        a.find_first_of("*?:-") != std::string_view::npos)
      return {};  // a pattern, not one case; a later --gtest_filter would replace it anyway
    suite.assign(a.substr(0, dot));
  }
  return suite;
}

}  // namespace mpexec
