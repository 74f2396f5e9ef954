#!/bin/sh
# Runs each fuzz target for SECONDS, one after the other, and prints one line per target:
#   fuzz: TARGET: N executions (M/s), coverage C (features F), corpus K inputs, ok|FAILED
#   tests/fuzz/run.sh BUILD_DIR SECONDS TARGET...   (BUILD_DIR holds fuzz/TARGET, as `make fuzz` builds it)
# Inputs start from tests/fuzz/corpus/TARGET and tests/fuzz/repro/TARGET; what libFuzzer adds goes to
# BUILD_DIR/corpus/TARGET, and a failing input to BUILD_DIR/artifacts/TARGET/, to be copied into
# tests/fuzz/repro/TARGET/ once the bug is fixed (docs/fuzzing.md).
set -u
[ $# -ge 2 ] || { echo "usage: tests/fuzz/run.sh BUILD_DIR SECONDS TARGET..." >&2; exit 2; }
build=$1 seconds=$2
shift 2
here=$(dirname "$0")
status=0 summary=""
for t in "$@"; do
  bin=$build/fuzz/$t
  corpus=$build/corpus/$t artifacts=$build/artifacts/$t
  mkdir -p "$corpus" "$artifacts" "$here/repro/$t"
  dict=""
  [ -f "$here/$t.dict" ] && dict="-dict=$here/$t.dict"
  log=$build/fuzz-$t.log
  echo "== fuzz $t for ${seconds}s (log: $log)"
  # -timeout: an input that takes 30 s is a hang (inputs take milliseconds; on a loaded machine a stall of
  # the allocator has taken 12 s); -rss_limit_mb: one that needs 2 GiB is running away.
  # shellcheck disable=SC2086
  "$bin" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" $dict "$corpus" "$here/corpus/$t" "$here/repro/$t" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
  inputs=$(find "$corpus" -type f | wc -l)
  verdict=ok
  if [ "$rc" != 0 ]; then
    verdict="FAILED (exit $rc; see $log and $artifacts/)"
    status=1
    grep -m 5 -E 'ERROR: |runtime error|property failed|SUMMARY' "$log"
  fi
  line="fuzz: $t: ${execs:-0} executions (${speed:-0}/s), coverage ${cov:-0} (features ${ft:-0}), corpus $inputs inputs, $verdict"
  echo "$line"
  summary="$summary$line
"
done
printf '%s' "$summary"
exit $status
