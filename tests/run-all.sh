#!/bin/sh
# Runs each gtest binary given and prints one closing line: "tests: N passed, N failed, N skipped".
set -u
passed=0 failed=0 skipped=0 status=0
for bin in "$@"; do
  echo "== $bin"
  out=$(mktemp)
  "$bin" --gtest_brief=1 --gtest_color=no >"$out" 2>&1
  rc=$?
  cat "$out"
  grep -q '^\[  PASSED  \]' "$out" || rc=1
  p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -n 1)
  s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$out" | tail -n 1)
  f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -n 1)
  passed=$((passed + ${p:-0})) skipped=$((skipped + ${s:-0})) failed=$((failed + ${f:-0}))
  if [ "$rc" != 0 ]; then
    status=1
    [ -z "$f" ] && failed=$((failed + 1)) && echo "!! $bin did not finish"
  fi
  rm -f "$out"
done
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit $status
