#!/bin/sh
# The Python package's tests under Debian's python3 and its pytest (make test): the package from the source
# tree, no bytecode or cache written into it. MPEXEC_BIN is the mpexec the end-to-end tests run.
#   tests/python/run.sh [PYTHON]
set -u
python=${1:-/usr/bin/python3}
here=$(cd "$(dirname "$0")" && pwd)
export PYTHONDONTWRITEBYTECODE=1
"$python" -m pytest -q -p no:cacheprovider -rs "$here"
