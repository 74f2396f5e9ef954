#!/bin/sh
# A group fixture: "start" leaves a server process running for the group's tests; "stop" ends it.
# The unit's private TMPDIR is shared by the setup, the tests and the teardown of one unit.
set -eu
action=$1 name=$2
case "$action" in
  start)
    sleep 300 &
    echo $! > "$TMPDIR/$name.pid"
    echo "started $name (pid $!)" ;;
  stop)
    kill "$(cat "$TMPDIR/$name.pid")"
    echo "stopped $name" ;;
esac
