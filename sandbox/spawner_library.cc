// libmpexec-spawner.so: the spawner (sandbox/spawner.h) as a library, for an interpreter that has already
// loaded what its units' commands would load at every start (docs/sandbox.md, "Preloaded interpreters").
// python/mpexec/_preload.py loads it with ctypes and calls the one exported function.
#include "sandbox/spawner.h"

/// Serves mpexec (pid `parent`) on `sock` as mpexec-spawner does, in this process, which must be single-
/// threaded; every CommandSpec::preload command of the units it spawns runs through `run` (init.h,
/// PreloadedRun) in a fork of the init instead of an execve. `make_ahead` as mpexec-spawner's argument.
/// Returns only on a usage error (2); otherwise the process exits when mpexec closes the socket.
extern "C" __attribute__((visibility("default"))) int mpexec_spawner_serve(int sock, long parent, int make_ahead,
                                                                          mpexec::sandbox::PreloadedRun run) {
  return mpexec::sandbox::Spawner::servePreloaded(sock, parent, make_ahead != 0, run);
}
