#!/bin/sh
# A stand-in test: says what it checks, takes a moment, passes.
echo "checking: $1 (test $MPEXEC_TEST_NAME, unit $MPEXEC_UNIT, slot $MPEXEC_SLOT)"
sleep "${2:-0.1}"
