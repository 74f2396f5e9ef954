#!/bin/sh
# `make bench`: runs each Google Benchmark binary given (their medians of 5 repetitions), then the
# whole-run shell benchmarks in bench/ (which print their own medians and ratios).
# Usage: MPEXEC_BIN=build/release/mpexec bench/run-all.sh BENCH_BIN...
set -u
here=$(dirname "$0")
status=0
for bin in "$@"; do
  echo "== $(basename "$bin")"
  out=$(mktemp)
  if "$bin" --benchmark_color=false >"$out" 2>&1; then
    # The context lines, the table's header, and each benchmark's median (and any error).
    grep -E '^(Run on|Load Average|Benchmark|-{10})|_median|ERROR' "$out"
  else
    cat "$out"
    echo "!! $bin failed"
    status=1
  fi
  rm -f "$out"
  echo
done
for script in "$here"/trivial_tests.sh "$here"/batch_gtest.sh; do
  [ -x "$script" ] || continue
  echo "== $(basename "$script")"
  "$script" || status=1
  echo
done
exit $status
