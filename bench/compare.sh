#!/bin/bash
# `make bench-compare` (issue 5): the same workloads through mpexec and the tools users run today, with
# the same commands and the same -j, runners alternating inside each round, RUNS rounds, one table:
# median, min and max wall time, and the ratio to the `xargs -P` floor of the workload.
#
# Every test of a workload is PROG ARG (W1: /bin/true <index>; W2, W3: /bin/sleep <seconds>), so each
# runner gets the very same argv per test:
#   W1     400 x true, -j2
#   W2     40 x sleep 0.25, -j2 and -j8 (ideal 5 s and 1.25 s)
#   W3     20 sleeps, 2.0, 1.0, 1.0, 0.5 x5, 0.1 x12 s, listed shortest first, -j2 (LPT bound 3.85 s);
#          mpexec and ctest are timed twice per round: a first run with no state, then a second with the
#          history (mpexec's state.json, ctest's CTestCostData.txt) that the first one left
#   LARGE  10,000 x true at -j2 through mpexec with the sandbox, once: its per-test wall against W1's
#
# Each runner is also timed with nothing to run (no test, the workload's -j), in every round: its fixed cost
# to start and exit. The last column is the ratio to the ideal less that cost (see the notes under the table).
#
# One more row, ns-floor (bench/ns_floor.cc), runs each test in a child with DESIGN §4's namespaces and
# nothing else: the least any runner that keeps §4 can spend, as a ratio to xargs -P.
#
# Usage: MPEXEC_BIN=build/mpexec [NS_FLOOR_BIN=build/release/bench/ns-floor] bench/compare.sh [--write]
#   --write   also write the table, with the date and machine, to bench/RESULTS.md
#   RUNS=5    rounds;  LARGE=0 skips the 10k run (about a minute);  WORKLOADS="W1 W2j2 W2j8 W3" to choose;
#   SETTLE=0   no wait for idle CPUs before each timed run (see settle());
#   MPEXEC_COMMIT=abc1234 names the commit the binary was built from (default: the tree's HEAD);
#   MPEXEC_BASELINE_BIN=/tmp/old/build/mpexec adds a row for another build of mpexec (with the sandbox), timed
#   in the same rounds: the build before a change, beside it (MPEXEC_BASELINE_COMMIT names it);
#   RUNNERS="xargs mpexec mpexec_base" times only those runners (default: all of them)
set -u

here=$(cd "$(dirname "$0")" && pwd)
MPEXEC=${MPEXEC_BIN:-build/mpexec}
case $MPEXEC in /*) ;; *) MPEXEC=$(pwd)/$MPEXEC ;; esac
MPEXEC_BASE=${MPEXEC_BASELINE_BIN:-}
case $MPEXEC_BASE in /* | "") ;; *) MPEXEC_BASE=$(pwd)/$MPEXEC_BASE ;; esac
NS_FLOOR=${NS_FLOOR_BIN:-}
RUNS=${RUNS:-5}
LARGE=${LARGE:-1}
WORKLOADS=${WORKLOADS:-W1 W2j2 W2j8 W3}
write=0
for arg in "$@"; do
  case $arg in
    --write) write=1 ;;
    *) echo "compare.sh: unknown option '$arg'" >&2; exit 2 ;;
  esac
done
[ -x "$MPEXEC" ] || { echo "compare.sh: no mpexec at $MPEXEC (set MPEXEC_BIN)" >&2; exit 2; }

work=$(mktemp -d /tmp/mpexec-compare-XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM

# ---------------------------------------------------------------------------------------------------
# Workloads: $work/W.args holds one ARG per test; prog_W, jobs_W, ideal_W describe the rest.

BWRAP=(bwrap --unshare-all --die-with-parent --ro-bind / / --proc /proc --dev /dev --tmpfs /tmp)
UNSHARE=(unshare --user --map-root-user --pid --net --mount --ipc --uts --fork)

define_workload() {  # NAME PROG JOBS IDEAL-or-empty ARG...
  local name=$1 prog=$2 jobs=$3 ideal=$4
  shift 4
  if [ $# -gt 0 ]; then printf '%s\n' "$@"; fi >"$work/$name.args"
  eval "prog_$name=\$prog jobs_$name=\$jobs ideal_$name=\$ideal"
}
define_workload W1 /bin/true 2 "" $(seq 400)
define_workload W2j2 /bin/sleep 2 5.00 $(for _ in $(seq 40); do echo 0.25; done)
define_workload W2j8 /bin/sleep 8 1.25 $(for _ in $(seq 40); do echo 0.25; done)
define_workload W3 /bin/sleep 2 3.85 $(for _ in $(seq 12); do echo 0.1; done) 0.5 0.5 0.5 0.5 0.5 1.0 1.0 2.0
define_workload LARGE /bin/true 2 "" $(seq 10000)
# The empty workload of W (EMPTY_W): no test, W's program and -j.
for w in W1 W2j2 W2j8 W3; do define_workload "EMPTY_$w" "$(eval "echo \$prog_$w")" "$(eval "echo \$jobs_$w")" ""; done

prog() { eval "echo \$prog_$1"; }
jobs_of() { eval "echo \$jobs_$1"; }
ideal() { eval "echo \$ideal_$1"; }
label() {
  case $1 in
    W1) echo "W1 400 x true -j2" ;;
    W2j2) echo "W2 40 x sleep 0.25 -j2" ;;
    W2j8) echo "W2 40 x sleep 0.25 -j8" ;;
    W3) echo "W3 20 mixed sleeps -j2" ;;
    LARGE) echo "10k x true -j2" ;;
  esac
}

# The mpexec manifest of a workload: free tests tNNNNN running [PROG, ARG].
write_manifest() {  # W
  local w=$1 p
  p=$(prog "$w")
  awk -v prog="$p" 'BEGIN { printf "{\"version\": 1, \"tests\": [\n" }
    { printf "%s{\"name\": \"t%05d\", \"cmd\": [\"%s\", \"%s\"]}", (NR > 1 ? ",\n" : ""), NR, prog, $0 }
    END { printf "\n]}\n" }' "$work/$w.args" >"$work/$w.json"
}

# The ctest project of a workload, configured once here, outside every timing.
configure_ctest() {  # W
  local w=$1 p dir
  p=$(prog "$w")
  dir=$work/ctest-$w
  mkdir -p "$dir/src"
  {
    echo "cmake_minimum_required(VERSION 3.16)"
    echo "project(bench NONE)"
    echo "enable_testing()"
    awk -v prog="$p" '{ printf "add_test(NAME t%05d COMMAND %s %s)\n", NR, prog, $0 }' "$work/$w.args"
  } >"$dir/src/CMakeLists.txt"
  cmake -S "$dir/src" -B "$dir/build" >"$dir/configure.log" 2>&1
}

# ---------------------------------------------------------------------------------------------------
# Runners: run_R W runs workload W once. A `fresh` mode (mpexec, ctest) starts with no history.

run_mpexec() {  # W STATE-DIR [--no-sandbox]
  local w=$1 state=$2
  shift 2
  "$MPEXEC" -q -j "$(jobs_of "$w")" "$@" --no-tests=pass --state-dir "$state" "$work/$w.json"
}
run_mpexec_base() {  # W STATE-DIR
  "$MPEXEC_BASE" -q -j "$(jobs_of "$1")" --no-tests=pass --state-dir "$2" "$work/$1.json"
}
run_xargs() { xargs -r -P "$(jobs_of "$1")" -n 1 "$(prog "$1")" <"$work/$1.args"; }
run_parallel() { parallel --will-cite -j "$(jobs_of "$1")" "$(prog "$1")" :::: "$work/$1.args"; }
run_ctest() { ctest --test-dir "$work/ctest-$1/build" -j "$(jobs_of "$1")" -Q; }
run_bwrap() { xargs -r -P "$(jobs_of "$1")" -n 1 "${BWRAP[@]}" "$(prog "$1")" <"$work/$1.args"; }
run_unshare() { xargs -r -P "$(jobs_of "$1")" -n 1 "${UNSHARE[@]}" "$(prog "$1")" <"$work/$1.args"; }
run_nsfloor() { "$NS_FLOOR" -j "$(jobs_of "$1")" "$(prog "$1")" <"$work/$1.args"; }

# Runner keys, in table order, and what each row is called.
RUNNERS=${RUNNERS:-xargs mpexec mpexec_base mpexec_ns nsfloor parallel ctest bwrap unshare}
runner_label() {
  case $1 in
    xargs) echo "xargs -P" ;;
    mpexec) echo "mpexec (sandbox)" ;;
    mpexec_base) echo "mpexec (sandbox), baseline build${MPEXEC_BASELINE_COMMIT:+ at $MPEXEC_BASELINE_COMMIT}" ;;
    mpexec_ns) echo "mpexec --no-sandbox" ;;
    nsfloor) echo "§4 namespaces alone (ns-floor)" ;;
    parallel) echo "GNU parallel" ;;
    ctest) echo "ctest -j" ;;
    bwrap) echo "bwrap per test, xargs -P" ;;
    unshare) echo "unshare per test, xargs -P" ;;
  esac
}

# Why a runner cannot run here (empty when it can): a missing tool, or one that fails on this host.
unavailable() {
  case $1 in
    mpexec | mpexec_ns | xargs) ;;
    mpexec_base) [ -n "$MPEXEC_BASE" ] && [ -x "$MPEXEC_BASE" ] || echo "no baseline (set MPEXEC_BASELINE_BIN)" ;;
    parallel) command -v parallel >/dev/null || echo "missing GNU parallel" ;;
    ctest) command -v ctest >/dev/null && command -v cmake >/dev/null || echo "missing cmake/ctest" ;;
    bwrap)
      if ! command -v bwrap >/dev/null; then echo "missing bwrap"
      elif ! "${BWRAP[@]}" /bin/true 2>/dev/null; then echo "bwrap fails here"; fi ;;
    nsfloor)
      if [ -z "$NS_FLOOR" ] || [ ! -x "$NS_FLOOR" ]; then echo "no ns-floor (set NS_FLOOR_BIN)"
      elif ! echo 1 | "$NS_FLOOR" -j 1 /bin/true 2>/dev/null; then echo "ns-floor fails here"; fi ;;
    unshare)
      if ! command -v unshare >/dev/null; then echo "missing unshare"
      elif ! "${UNSHARE[@]}" /bin/true 2>/dev/null; then echo "unshare --user fails here"; fi ;;
  esac
}

# ---------------------------------------------------------------------------------------------------
# Timing: each timed run appends its wall seconds to $work/times/KEY; a failed run is noted in KEY.fail.

# The time now, in seconds, into the variable named $1: bash's own clock, read without starting a process.
# With `t0=$(date +%s.%N)` each reading was a fork of the shell and an exec of date, and the time of one date
# process (its exit after the first reading, its start before the second) fell inside every timed run.
[ -n "${EPOCHREALTIME:-}" ] || { echo "compare.sh: needs bash 5 (EPOCHREALTIME)" >&2; exit 2; }
now() { local t=$EPOCHREALTIME; printf -v "$1" '%s' "${t/,/.}"; }
mkdir -p "$work/times"

# Before each timed run, outside its time: sync, then wait (up to 5 s) until the CPUs are at least 90% idle
# over 0.1 s, so that no run pays for the writeback (mpexec's logs and output directories, and their removal)
# or the namespace teardown (bwrap, unshare, mpexec: hundreds of network namespaces) that the run before it
# left to the kernel's workers. SETTLE=0 turns the wait off.
cpu_idle_permille() {  # over 0.1 s, from /proc/stat
  local a b
  a=$(awk '/^cpu / { print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat)
  sleep 0.1
  b=$(awk '/^cpu / { print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat)
  echo "$a $b" | awk '{ d = $4 - $2; print (d > 0 ? int(1000 * ($3 - $1) / d) : 1000) }'
}
settle() {
  sync
  [ "${SETTLE:-1}" = 0 ] && return
  local i
  for i in $(seq 50); do
    [ "$(cpu_idle_permille)" -ge 900 ] && return
  done
}

timed() {  # KEY COMMAND...
  local key=$1 t0 t1
  shift
  settle
  now t0
  if "$@" >"$work/last.out" 2>&1; then
    now t1
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }' >>"$work/times/$key"
  else
    echo "failed (exit $?): $(tail -n 1 "$work/last.out")" >"$work/times/$key.fail"
    tail -n 20 "$work/last.out" >&2
  fi
}

# An empty state directory for one mpexec run (and W3's second), removed with $work at the end. Removing
# the previous run's directory (its logs and output directories, ~800 inodes in W1) just before a timed run
# would have ext4 skip the inodes it had just freed while allocating the new run's (find_inode_bit,
# recently_deleted): +100 ms, +40% for W1 --no-sandbox here. No user removes .mpexec before every run.
fresh_state() { mktemp -d "$work/state.XXXXXX"; }

# One round of workload W: every available runner once, in RUNNERS order.
round() {  # W
  local w=$1 r state
  for r in $RUNNERS; do
    [ -n "$(unavailable "$r")" ] && continue
    case $r in
      mpexec | mpexec_ns | mpexec_base)
        local flag=() run=run_mpexec
        [ "$r" = mpexec_ns ] && flag=(--no-sandbox)
        [ "$r" = mpexec_base ] && run=run_mpexec_base
        state=$(fresh_state)
        timed "$w.$r" "$run" "$w" "$state" "${flag[@]}"
        # W3 is also timed with the history the first run left (the plan puts the longest first).
        [ "$w" = W3 ] && timed "$w.$r.2nd" "$run" "$w" "$state" "${flag[@]}"
        ;;
      ctest)
        rm -rf "$work/ctest-$w/build/Testing"
        timed "$w.$r" run_ctest "$w"
        [ "$w" = W3 ] && timed "$w.$r.2nd" run_ctest "$w"
        ;;
      *) timed "$w.$r" "run_$r" "$w" ;;
    esac
  done
  # The same runners with nothing to run: their fixed cost in this round.
  for r in $RUNNERS; do
    [ -n "$(unavailable "$r")" ] && continue
    case $r in
      mpexec | mpexec_ns | mpexec_base)
        local flag=() run=run_mpexec
        [ "$r" = mpexec_ns ] && flag=(--no-sandbox)
        [ "$r" = mpexec_base ] && run=run_mpexec_base
        timed "$w.$r.empty" "$run" "EMPTY_$w" "$(fresh_state)" "${flag[@]}"
        ;;
      ctest)
        rm -rf "$work/ctest-EMPTY_$w/build/Testing"
        timed "$w.$r.empty" run_ctest "EMPTY_$w"
        ;;
      *) timed "$w.$r.empty" "run_$r" "EMPTY_$w" ;;
    esac
  done
}

# ---------------------------------------------------------------------------------------------------
# Statistics and the table.

stat_of() {  # KEY median|min|max
  sort -n "$work/times/$1" | awk -v what="$2" '{ v[NR] = $1 } END {
    if (what == "min") print v[1]; else if (what == "max") print v[NR];
    else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }

table_row() {  # W KEY LABEL
  local w=$1 key=$2 name=$3 why med floor id empty=- less=- ekey
  why=$(unavailable "${key%%.*}")
  if [ -n "$why" ]; then
    printf '| %s | %s | n/a (%s) | | | | | | |\n' "$name" "$(label "$w")" "$why"
  elif [ -f "$work/times/$w.$key.fail" ]; then
    printf '| %s | %s | %s | | | | | | |\n' "$name" "$(label "$w")" "$(cat "$work/times/$w.$key.fail")"
  elif [ -s "$work/times/$w.$key" ]; then
    med=$(stat_of "$w.$key" median)
    floor=$(stat_of "$w.xargs" median)
    id=$(ideal "$w")
    # The runner's empty run (W3's second runs share the first's).
    ekey="$w.${key%.2nd}.empty"
    if [ -s "$work/times/$ekey" ] && [ ! -f "$work/times/$ekey.fail" ]; then
      empty=$(printf '%.3f' "$(stat_of "$ekey" median)")
      [ -n "$id" ] && less=$(ratio "$(awk -v a="$med" -v b="$empty" 'BEGIN { print a - b }')" "$id")
    fi
    printf '| %s | %s | %.3f | %.3f | %.3f | %s | %s | %s | %s |\n' "$name" "$(label "$w")" "$med" \
      "$(stat_of "$w.$key" min)" "$(stat_of "$w.$key" max)" "$(ratio "$med" "$floor")" \
      "$([ -n "$id" ] && ratio "$med" "$id" || echo -)" "$empty" "$less"
  fi
}

table() {
  local w r
  echo "| runner | workload | median s | min s | max s | ratio to xargs -P | ratio to ideal | empty run, median s | ratio to ideal less the empty run |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
  for w in $WORKLOADS; do
    for r in $RUNNERS; do
      case $r in
        mpexec | mpexec_ns | mpexec_base | ctest)
          if [ "$w" = W3 ]; then
            table_row "$w" "$r" "$(runner_label "$r"), 1st run (no history)"
            table_row "$w" "$r.2nd" "$(runner_label "$r"), 2nd run (history)"
          else
            table_row "$w" "$r" "$(runner_label "$r")"
          fi
          ;;
        *) table_row "$w" "$r" "$(runner_label "$r")" ;;
      esac
    done
  done
}

large_note() {
  local t w1 per_large per_w1
  if [ "$LARGE" = 0 ]; then
    echo "10k x true at -j2 with the sandbox: not run (LARGE=0)."
  elif [ -f "$work/times/LARGE.mpexec.fail" ]; then
    echo "10k x true at -j2 with the sandbox: $(cat "$work/times/LARGE.mpexec.fail")"
  elif [ -s "$work/times/LARGE.mpexec" ] && [ -s "$work/times/W1.mpexec" ]; then
    t=$(stat_of LARGE.mpexec median)
    w1=$(stat_of W1.mpexec median)
    per_large=$(awk -v t="$t" 'BEGIN { printf "%.3f", t / 10000 * 1000 }')
    per_w1=$(awk -v t="$w1" 'BEGIN { printf "%.3f", t / 400 * 1000 }')
    echo "10k x true at -j2 with the sandbox (one run): $(printf '%.2f' "$t") s, $per_large ms per test" \
      "against $per_w1 ms per test in W1 (median): $(ratio "$per_large" "$per_w1") of the W1 figure."
  fi
}

machine() {
  local model
  model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
  # The binary may be older than the tree: MPEXEC_COMMIT names the commit it was built from.
  local commit=${MPEXEC_COMMIT:-}
  if [ -z "$commit" ]; then
    commit="the tree at $(git -C "$here/.." rev-parse --short HEAD 2>/dev/null || echo unknown)"
    git -C "$here/.." diff --quiet HEAD -- executor sandbox sync-service 2>/dev/null || commit="$commit + local changes"
  fi
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ) (when the last run ended)"
  echo "- kernel: $(uname -sr) ($(uname -m))"
  echo "- machine: $(nproc) CPUs, ${model:-unknown model}; load average at the start: $load_at_start"
  echo "- mpexec: $MPEXEC, built from $commit"
  [ -n "$MPEXEC_BASE" ] && echo "- baseline mpexec: $MPEXEC_BASE${MPEXEC_BASELINE_COMMIT:+, built from $MPEXEC_BASELINE_COMMIT}"
  echo "- $RUNS runs per runner and workload, runners alternating inside each round; wall time from bash's EPOCHREALTIME;"
  echo "  each run starts after \`sync\` and once the CPUs are 90% idle over 0.1 s (the previous runs' writeback and"
  echo "  namespace teardown are the kernel workers' and land on no runner); each mpexec run gets a state"
  echo "  directory of its own, and none is removed before the end"
}

# ---------------------------------------------------------------------------------------------------

load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
for w in $WORKLOADS LARGE; do write_manifest "$w"; done
for w in $WORKLOADS; do write_manifest "EMPTY_$w"; done
if [ -z "$(unavailable ctest)" ]; then
  for w in $WORKLOADS; do
    for c in "$w" "EMPTY_$w"; do configure_ctest "$c" || echo "compare.sh: cmake failed for $c" >&2; done
  done
fi
for r in $RUNNERS; do
  why=$(unavailable "$r")
  [ -n "$why" ] && echo "compare.sh: $(runner_label "$r"): n/a ($why)" >&2
done

echo "compare.sh: $RUNS rounds of $WORKLOADS with $MPEXEC" >&2
for run in $(seq "$RUNS"); do
  for w in $WORKLOADS; do
    echo "compare.sh: round $run/$RUNS, $w" >&2
    round "$w"
  done
done
if [ "$LARGE" != 0 ]; then
  echo "compare.sh: 10k x true at -j2 with the sandbox" >&2
  timed LARGE.mpexec run_mpexec LARGE "$(fresh_state)"
fi

report=$work/report.md
{
  echo "# mpexec against the usual runners"
  echo
  echo "Produced by \`make bench-compare\` (bench/compare.sh --write); every figure below is from one run."
  echo
  machine
  echo
  table
  echo
  echo "Ideal: W2 40 x 0.25 s over 2 or 8 slots = 5 s or 1.25 s; W3 the LPT bound max(sum/N, longest) = 3.85 s."
  echo "W3 lists its tests shortest first, so a runner without history starts the 2 s test last."
  echo "ns-floor runs each test in a child cloned with DESIGN §4's namespaces (mount, pid, network, IPC, UTS,"
  echo "cgroup), whose mounts it makes private and whose loopback it brings up, and nothing else: no mounts, no"
  echo "cgroups, no seccomp, no init. Its ratio to xargs -P is the floor for any runner that keeps §4."
  echo "Times run from the runner's fork by the shell to its exit (bash's EPOCHREALTIME: no process is started to"
  echo "read the clock), so the runner's own start and exit are in them. \"Empty run\" is the median of the same"
  echo "runner on no test at the same -j, in the same rounds: its fixed cost. The last column takes it off before"
  echo "the ratio to the ideal, leaving what the runner adds per test and per wave. No runner reaches 1.00x:"
  echo "every wave holds the tests' own exec, loader and exit (docs/sandbox.md, \"What W2's figures mean\")."
  echo
  large_note
} >"$report"
echo >&2
cat "$report"
if [ "$write" = 1 ]; then
  cp "$report" "$here/RESULTS.md"
  echo "compare.sh: wrote $here/RESULTS.md" >&2
fi
