#!/bin/sh
# Whole-run benchmarks of the runner (issues 3 and 5), every runner in the same run, alternating, RUNS
# runs each, medians printed with their ratio to the floor:
#   W1: N (400) trivial free tests (/bin/true) at -j2 through mpexec with the sandbox, mpexec
#       --no-sandbox, `xargs -P2` running the same command, and `unshare --user --pid --net --mount --ipc
#       --uts --fork /bin/true` per test through `xargs -P2` (the per-test-container peer). Every runner
#       runs /bin/true without an argument (`xargs -I`): given one, coreutils' true loads the locale first.
#       (bench/compare.sh runs `/bin/true <index>` through every runner instead.)
#   W2: 40 tests of `sleep 0.25` at -j8 through mpexec with and without the sandbox, against the ideal
#       1.25 s.
# Usage: MPEXEC_BIN=build/mpexec bench/trivial_tests.sh   (RUNS=5 N=400 by default)
set -eu

MPEXEC=${MPEXEC_BIN:-build/mpexec}
RUNS=${RUNS:-5}
N=${N:-400}
case $MPEXEC in /*) ;; *) MPEXEC=$(pwd)/$MPEXEC ;; esac
[ -x "$MPEXEC" ] || { echo "trivial_tests.sh: no mpexec at $MPEXEC (set MPEXEC_BIN)" >&2; exit 2; }

work=$(mktemp -d /tmp/mpexec-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM

# manifest NAME COUNT ARGV-JSON: COUNT free tests named tNNN running ARGV.
manifest() {
  {
    printf '{"version": 1, "tests": [\n'
    i=0
    while [ "$i" -lt "$2" ]; do
      [ "$i" -gt 0 ] && printf ',\n'
      printf '{"name": "t%04d", "cmd": %s}' "$i" "$3"
      i=$((i + 1))
    done
    printf '\n]}\n'
  } >"$work/$1.json"
}
manifest w1 "$N" '["/bin/true"]'
manifest w2 40 '["/bin/sleep", "0.25"]'

now() { date +%s.%N; }

# timed LABEL COMMAND...: runs the command once, appends its wall time in seconds to $work/LABEL.times.
timed() {
  label=$1
  shift
  t0=$(now)
  if ! "$@" >"$work/last.out" 2>&1; then
    echo "$label failed:" >&2
    tail -n 20 "$work/last.out" >&2
    exit 1
  fi
  t1=$(now)
  echo "$t0 $t1" | awk '{ printf "%.4f\n", $2 - $1 }' >>"$work/$label.times"
}

median() { sort -n "$work/$1.times" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
spread() { sort -n "$work/$1.times" | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.3f..%.3f", lo, hi }'; }

w1_sandbox() { "$MPEXEC" -q -j 2 --state-dir "$work/state-w1s" "$work/w1.json"; }
w1_plain() { "$MPEXEC" -q -j 2 --no-sandbox --state-dir "$work/state-w1p" "$work/w1.json"; }
w1_xargs() { seq "$N" | xargs -P 2 -I{} /bin/true; }
w1_unshare() { seq "$N" | xargs -P 2 -I{} unshare --user --pid --net --mount --ipc --uts --fork /bin/true; }
w2_sandbox() { "$MPEXEC" -q -j 8 --state-dir "$work/state-w2s" "$work/w2.json"; }
w2_plain() { "$MPEXEC" -q -j 8 --no-sandbox --state-dir "$work/state-w2p" "$work/w2.json"; }

have_unshare=1
unshare --user --pid --net --mount --ipc --uts --fork /bin/true 2>/dev/null || have_unshare=0

echo "mpexec: $MPEXEC"
echo "host: $(uname -srm), $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%MZ); $RUNS runs each, runners alternating"
run=1
while [ "$run" -le "$RUNS" ]; do
  timed w1_xargs w1_xargs
  timed w1_sandbox w1_sandbox
  timed w1_plain w1_plain
  [ "$have_unshare" = 1 ] && timed w1_unshare w1_unshare
  timed w2_sandbox w2_sandbox
  timed w2_plain w2_plain
  run=$((run + 1))
done

floor=$(median w1_xargs)
echo
echo "W1: $N x /bin/true at -j2              median s   min..max s     ratio to xargs -P2"
row() { printf '  %-34s %8.3f   %-13s %6.2fx\n' "$1" "$(median "$2")" "$(spread "$2")" \
  "$(echo "$(median "$2") $3" | awk '{ print $1 / $2 }')"; }
row "xargs -P2 /bin/true" w1_xargs "$floor"
row "mpexec (sandbox)" w1_sandbox "$floor"
row "mpexec --no-sandbox" w1_plain "$floor"
if [ "$have_unshare" = 1 ]; then
  row "unshare per test, xargs -P2" w1_unshare "$floor"
else
  echo "  unshare per test: not available here (unshare --user failed)"
fi
echo
echo "W2: 40 x sleep 0.25 at -j8             median s   min..max s     ratio to ideal 1.25 s"
row "mpexec (sandbox)" w2_sandbox 1.25
row "mpexec --no-sandbox" w2_plain 1.25
