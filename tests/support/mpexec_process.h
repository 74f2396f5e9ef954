#pragma once
// Runs the real mpexec binary (MPEXEC_BIN) as a user would, for the integration and escape suites.

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include <boost/json.hpp>

namespace mpexec::test {

struct Finished {
  int exit_code = -1;  ///< -1 when killed by a signal
  int signal = 0;
  std::string out;     ///< stdout and stderr, interleaved
};

/// The binary under test: $MPEXEC_BIN, or build/mpexec.
std::string mpexecBinary();

/// Runs mpexec with `args` and waits (a hang is killed after `timeout_s` and fails the caller's test).
Finished runMpexec(const std::vector<std::string>& args, double timeout_s = 120);

/// Starts mpexec in the background with its output going to `out_file`; returns its pid.
pid_t startMpexec(const std::vector<std::string>& args, const std::string& out_file);
/// Waits for a pid from startMpexec.
Finished waitMpexec(pid_t pid, const std::string& out_file, double timeout_s = 120);

/// Runs a shell command, its stdout and stderr captured in `out`; returns the exit status (-1 on a signal).
int shell(const std::string& cmd, std::string* out = nullptr);

boost::json::object readJson(const std::string& path);
std::string readFile(const std::string& path);

/// Pids of live processes whose command line contains `marker` (zombies excluded).
std::vector<pid_t> processesWith(const std::string& marker);

/// The live (not zombie) children of `parent`, each with its command line ('\0' between arguments).
std::vector<std::pair<pid_t, std::string>> childrenOf(pid_t parent);
/// Whether `child` (from childrenOf) still runs: the pid is alive and has the same command line.
bool stillRuns(const std::pair<pid_t, std::string>& child);

/// A manifest's text with `count` free tests named PREFIX0, PREFIX1, ..., each running `cmd_json` (a JSON
/// array).
std::string numberedTestsManifest(const std::string& prefix, int count, const std::string& cmd_json);

/// The "tests" entry of a JSON report with this name (throws when absent).
const boost::json::object& testEntry(const boost::json::object& report, const std::string& name);

/// Sets an environment variable (for the mpexec processes a test starts) until the end of the scope, then
/// puts back what was there, unset included.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value);
  ~ScopedEnv();
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  bool had_;
  std::string old_;
};

}  // namespace mpexec::test
