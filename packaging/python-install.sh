#!/bin/sh
# Installs the mpexec Python package into a site directory, with the .dist-info that makes pytest load its
# plugin by itself (entry point pytest11 "mpexec.pytest_plugin", the name `-p mpexec.pytest_plugin` uses,
# so the two never register it twice). Used by `make install` and packaging/deb.sh.
#   packaging/python-install.sh VERSION SITE_DIR FILE.py...
set -eu
[ $# -ge 3 ] || { echo "usage: packaging/python-install.sh VERSION SITE_DIR FILE.py..." >&2; exit 2; }
version=$1 site=$2
shift 2
install -d "$site/mpexec" "$site/mpexec-$version.dist-info"
install -m644 "$@" "$site/mpexec/"
info=$site/mpexec-$version.dist-info
printf 'Metadata-Version: 2.1\nName: mpexec\nVersion: %s\nSummary: mpexec sync client, pytest plugin and importers\nRequires-Python: >=3.9\n' \
  "$version" >"$info/METADATA"
printf '[pytest11]\nmpexec.pytest_plugin = mpexec.pytest_plugin\n' >"$info/entry_points.txt"
printf 'mpexec\n' >"$info/top_level.txt"
printf 'make\n' >"$info/INSTALLER"
chmod 644 "$info"/*
