#pragma once
// Preloaded interpreters: the spawners that run a batch group's `"preload": "pytest"` command in a fork of
// an interpreter that has already imported pytest (docs/sandbox.md, "Preloaded interpreters"; the Python
// side is python/mpexec/_preload.py). One per interpreter and startup environment, started as soon as the run
// knows a unit will want it, and never waited for: a unit due before it is ready, or whose interpreter cannot
// be preloaded safely, runs its command with an execve, as every other command does.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sandbox/context.h"
#include "sandbox/spawner.h"
#include "sandbox/unit_process.h"

namespace mpexec {

/// Why mpexec, whatever its privileges, must not run code from `path`, or empty when it may: the path and
/// every directory above it (symlinks resolved) belong to root or the invoking user, and no one else may
/// write them (a directory above it may be writable by all if it is sticky, as /tmp is). With
/// `whole_directory`, every file and directory in it is held to the same rule.
std::string untrustedPath(const std::string& path, bool whole_directory = false);

/// Why a preloaded spawner must not run code from `path`, or empty when it may: a unit of root writes
/// through its writable paths as root (idmapped), so what a unit leaves in one of `writable` (real paths)
/// would pass untrustedPath(). `path` (real) must be neither in one nor hold one.
std::string writableOverlap(const std::string& path, const std::vector<std::string>& writable);

/// The interpreter and the environment its preloaded spawner starts with, for a CommandSpec::preload
/// command: argv[0] (absolute), and the command's environment variables that a Python interpreter reads only
/// at its start (PYTHON* but those python/mpexec/_preload.py applies per command, and the locale's).
/// Nothing when the command cannot run in a preloaded interpreter, with the reason in `why`.
struct PreloadKey {
  std::string interpreter;
  std::vector<std::string> startup_env;  ///< sorted KEY=VALUE
  bool operator<(const PreloadKey& o) const {
    return interpreter != o.interpreter ? interpreter < o.interpreter : startup_env < o.startup_env;
  }
};
std::optional<PreloadKey> preloadKey(const sandbox::CommandSpec& cmd, std::string* why);

class Preloads {
 public:
  /// `exe`: the running mpexec, beside which libmpexec-spawner.so is looked for (and the source tree's
  /// python/ when it runs from its build tree). `writable`: every writable path a unit of the run may
  /// declare; no preloaded spawner imports from one (writableOverlap()).
  Preloads(const sandbox::Context& ctx, int netns_ahead, std::string exe, std::vector<std::string> writable);
  ~Preloads();
  Preloads(const Preloads&) = delete;
  Preloads& operator=(const Preloads&) = delete;

  /// Starts the preloaded spawner for `cmd` unless it is started (or cannot be), and returns at once.
  void startAhead(const sandbox::CommandSpec& cmd);
  /// The preloaded spawner for `cmd` once it has said it is ready; started (startAhead) the first time its key
  /// is asked for, never waited for. Null while it is still starting, or when there is none: the unit goes to
  /// the ordinary spawner and the command is exec'd.
  sandbox::Spawner* spawnerFor(const sandbox::CommandSpec& cmd);
  /// No unit starts from here: every preloaded spawner exits (units already started go on); one still
  /// starting is killed and reaped.
  void close();
  /// For `mpexec -v`: per interpreter, how many units it served, or why it did not.
  std::vector<std::string> notes() const;

 private:
  struct Entry {
    std::unique_ptr<sandbox::Spawner> spawner;  ///< null: refused
    std::string refusal;
    size_t units = 0;
    size_t early = 0;  ///< units exec'd while it started
    bool ready = false;
    int64_t started_ms = 0;
  };
  Entry start(const PreloadKey& key);
  /// Without waiting: marks `e` ready once its byte has come, or ends it (refused) when it exited, said
  /// something else, or has not said it in time.
  void settle(const PreloadKey& key, Entry& e);
  /// Kills a spawner that has not said it is ready (it is only importing: it has made nothing yet) and reaps it.
  static void end(Entry& e, std::string why);

  const sandbox::Context& ctx_;
  int netns_ahead_;
  std::string exe_;
  std::vector<std::string> writable_;  ///< real paths
  std::map<PreloadKey, Entry> entries_;
  std::map<std::string, size_t> refused_;  ///< commands that could not be preloaded, by reason
};

}  // namespace mpexec
