#!/bin/sh
# Start-up of a manifest with a few {"gtest": BIN} entries, which mpexec lists while it loads the manifest
# (in sandbox units, one per binary, docs/manifest.md). SOURCES (4) copies of a GoogleTest binary of 500
# cases (bench/gtest_cases.cc) are the entries; two commands are timed in alternating runs:
#   list: `mpexec --list` (load, list, plan, print);
#   one:  a run of one selected case (`--filter`), with its report: start-up, one unit, the end.
# Prints the median wall time of each, and with OLD_MPEXEC=path the same for that build (old beside new)
# and the ratios new / old.
#   MPEXEC_BIN=build/release/mpexec GTEST_CASES=build/release/bench/gtest-cases bench/gtest_listing.sh
# RUNS (21) runs of each; EXTRA (none) more options for every run (--no-sandbox, ...).
set -eu
mpexec=${MPEXEC_BIN:-build/release/mpexec}
bin=${GTEST_CASES:-build/release/bench/gtest-cases}
runs=${RUNS:-21}
sources=${SOURCES:-4}
extra=${EXTRA:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/bin"
entries=
i=1
while [ "$i" -le "$sources" ]; do
  cp "$bin" "$work/bin/cases$i"
  entries="$entries${entries:+, }{\"gtest\": \"bin/cases$i\"}"
  i=$((i + 1))
done
printf '{"version": 1, "tests": [%s]}\n' "$entries" >"$work/m.json"

# One run: its wall time in microseconds; a run that fails stops the benchmark.
run() {
  start=$(date +%s%N)
  case $2 in
  # shellcheck disable=SC2086
  list) "$1" --list $extra "$work/m.json" >"$work/out" 2>&1 || { cat "$work/out" >&2; exit 1; } ;;
  # shellcheck disable=SC2086
  one) "$1" -q $extra --state-dir "$work/state" --filter '^cases1\.S00\.C10$' "$work/m.json" >"$work/out" 2>&1 ||
    { cat "$work/out" >&2; exit 1; } ;;
  esac
  echo $(( ($(date +%s%N) - start) / 1000 ))
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

builds=new
[ -n "${OLD_MPEXEC:-}" ] && builds="new old"
for b in $builds; do for w in list one; do : >"$work/times-$b-$w"; done; done
i=0
while [ "$i" -lt "$runs" ]; do
  for w in list one; do
    run "$mpexec" $w >>"$work/times-new-$w"
    [ -n "${OLD_MPEXEC:-}" ] && run "$OLD_MPEXEC" $w >>"$work/times-old-$w"
  done
  i=$((i + 1))
done

echo "$sources gtest entries of $("$bin" --gtest_list_tests | grep -c '^  ') cases, ${extra:-(sandbox)}, $runs alternating runs each, medians (a shared machine: compare ratios)"
for w in list one; do
  for b in $builds; do
    m=$(median <"$work/times-$b-$w")
    awk -v w="$w" -v b="$b" -v m="$m" 'BEGIN {printf "  %-4s %-3s wall %8.2f ms\n", w, b, m / 1000}'
  done
  if [ -n "${OLD_MPEXEC:-}" ]; then
    awk -v n="$(median <"$work/times-new-$w")" -v o="$(median <"$work/times-old-$w")" -v w="$w" \
      'BEGIN {printf "  %-4s new / old: %.2fx\n", w, n / o}'
  fi
done
