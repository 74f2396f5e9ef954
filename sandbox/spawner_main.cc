// mpexec-spawner: the spawner process (sandbox/spawner.h) as a small static program of its own. mpexec
// forks and execs it once per run, so that each unit's clone copies a dozen mappings instead of mpexec's.
#include "sandbox/spawner.h"

int main(int argc, char** argv) { return mpexec::sandbox::Spawner::programMain(argc, argv); }
