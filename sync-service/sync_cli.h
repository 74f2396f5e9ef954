#pragma once
// `mpexec sync ...` (DESIGN §5): the command-line client that tests run inside their sandboxes.

#include <iosfwd>

#include "sync-service/client.h"

namespace mpexec::sync {

/// Exit codes: 0 ok; 1 the service said no (key not found, precondition failed, timed out, over a limit);
/// 2 usage, connection or authentication error. `lock run` and `trail start|finish` exit with the wrapped
/// command's own status instead (128 + signal when it was killed, 127 when it could not be started) once
/// the lock or block was obtained.
///
/// argv[0] is the word "sync" itself, so the executor's main() calls syncMain(argc - 1, argv + 1) for
/// `mpexec sync ...`. Reads the endpoint from the environment (Endpoint::fromEnvironment()).
int syncMain(int argc, char** argv);

/// The same with an explicit endpoint and streams: values go to `out`, diagnostics to `err`.
int syncMain(int argc, char** argv, const Endpoint& endpoint, std::ostream& out, std::ostream& err);

}  // namespace mpexec::sync
