#pragma once
// mpexec's exit codes (DESIGN §6), in one place for run(), the command line and --help.

namespace mpexec {

inline constexpr int kExitPassed = 0;       ///< every test passed or was skipped
inline constexpr int kExitFailed = 1;       ///< a test failed (or a unit had a problem)
inline constexpr int kExitUsage = 2;        ///< usage or manifest error
inline constexpr int kExitInfra = 3;        ///< infrastructure failure (no sandbox, no state directory)
inline constexpr int kExitNoTests = 4;      ///< the selection matched no test (--no-tests=fail, the default)
inline constexpr int kExitInterrupted = 130;  ///< SIGINT, SIGTERM or SIGHUP

}  // namespace mpexec
