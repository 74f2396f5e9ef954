#!/bin/sh
# Batch units against one process per case (issue 19): a GoogleTest binary of 500 cases that do nothing
# (bench/gtest_cases.cc, 10 suites of 50), imported both ways and run with the sandbox at -j2, in
# alternating runs. Prints the median wall time of each way, its cost per case, and the ratio.
#   MPEXEC_BIN=build/release/mpexec GTEST_CASES=build/release/bench/gtest-cases bench/batch_gtest.sh
# RUNS (11) runs of each; OLD_MPEXEC=path also runs the per-case manifest with another build of mpexec
# (old build beside new), NP (2) slots, EXTRA (none) more options for every run (--no-sandbox, ...).
set -eu
mpexec=${MPEXEC_BIN:-build/release/mpexec}
bin=${GTEST_CASES:-build/release/bench/gtest-cases}
runs=${RUNS:-11}
np=${NP:-2}
extra=${EXTRA:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
"$mpexec" import gtest "$bin" >"$work/per-case.json"
"$mpexec" import gtest --batch "$bin" >"$work/batch.json"
cases=$("$bin" --gtest_list_tests | grep -c '^  ')

# One run: its wall time in microseconds; a run that does not pass stops the benchmark.
run() {
  start=$(date +%s%N)
  # shellcheck disable=SC2086
  if ! "$1" -q -j "$np" $extra --state-dir "$work/state-$2" "$work/$2.json" >"$work/out" 2>&1; then
    cat "$work/out" >&2
    echo "batch_gtest.sh: the $2 run of $1 failed" >&2
    exit 1
  fi
  echo $(( ($(date +%s%N) - start) / 1000 ))
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

ways="per-case batch"
[ -n "${OLD_MPEXEC:-}" ] && ways="$ways old-per-case"
for w in $ways; do : >"$work/times-$w"; done
i=0
while [ $i -lt "$runs" ]; do
  run "$mpexec" per-case >>"$work/times-per-case"
  run "$mpexec" batch >>"$work/times-batch"
  [ -n "${OLD_MPEXEC:-}" ] && run "$OLD_MPEXEC" per-case >>"$work/times-old-per-case"
  i=$((i + 1))
done

echo "$cases cases, -j $np ${extra:-(sandbox)}, $runs alternating runs each, medians (a shared machine: compare ratios)"
for w in $ways; do
  m=$(median <"$work/times-$w")
  awk -v w="$w" -v m="$m" -v n="$cases" 'BEGIN {printf "  %-13s wall %8.1f ms   %7.1f us per case\n", w, m / 1000, m / n}'
done
pc=$(median <"$work/times-per-case")
b=$(median <"$work/times-batch")
awk -v b="$b" -v pc="$pc" 'BEGIN {printf "  batch / per-case: %.2f%%\n", 100 * b / pc}'
