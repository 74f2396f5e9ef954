#!/bin/sh
# A test that needs its group's fixture: the server the setup started must be alive.
pid=$(cat "$TMPDIR/$1.pid") || { echo "no $1 fixture"; exit 1; }
kill -0 "$pid" || { echo "$1 fixture is not running"; exit 1; }
echo "$MPEXEC_TEST_NAME talks to $1 (pid $pid)"
sleep 0.1
