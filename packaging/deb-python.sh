#!/bin/sh
# Builds python3-mpexec, the Debian package of the mpexec Python package (Debian's Python policy: a public
# module is a python3-<name> package of its own): /usr/lib/python3/dist-packages/mpexec and its .dist-info
# (pytest loads the plugin through its entry point). Architecture all, standard library only.
#   packaging/deb-python.sh VERSION OUTDIR   → OUTDIR/python3-mpexec_VERSION_all.deb (its path on stdout)
set -eu

[ $# -eq 2 ] || { echo "usage: packaging/deb-python.sh VERSION OUTDIR" >&2; exit 2; }
version=$1 out=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/deb-doc.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
root=$work/root
doc=$root/usr/share/doc/python3-mpexec

install -d "$root/DEBIAN"
"$here/python-install.sh" "$version" "$root/usr/lib/python3/dist-packages" "$here"/../python/mpexec/*.py
deb_doc "$doc" "$version" "$here/../python/mpexec/__init__.py"

size=$(du -k -s "$root/usr" | cut -f1)
cat >"$root/DEBIAN/control" <<CONTROL
Package: python3-mpexec
Source: mpexec
Version: $version
Architecture: all
Maintainer: mpexec maintainers <maintainers@mpexec.invalid>
Installed-Size: $size
Depends: python3 (>= 3.9)
Recommends: mpexec
Suggests: python3-pytest
Section: python
Priority: optional
Description: mpexec's sync client, pytest plugin and Python importers
 The client of mpexec's sync service (message board, locks, trails), a
 pytest plugin with pytest-mp's mp_group marker and mp_message_board, mp_lock
 and mp_trail fixtures, and the runners behind "mpexec import pytest" and
 "mpexec import unittest", which run pytest-mp and nose2 suites under mpexec.
CONTROL
# Debian's Python policy: the modules are byte-compiled where they are installed, for the interpreters
# installed there, and their bytecode goes with them, as dh_python3's maintainer scripts do. The package
# ships no bytecode of its own.
cat >"$root/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if command -v py3compile >/dev/null 2>&1; then
	py3compile -p python3-mpexec
fi
POSTINST
cat >"$root/DEBIAN/prerm" <<'PRERM'
#!/bin/sh
set -e
if command -v py3clean >/dev/null 2>&1; then
	py3clean -p python3-mpexec
else
	# No py3clean (python3 went first): the package's own directory holds only its modules' bytecode.
	rm -rf /usr/lib/python3/dist-packages/mpexec/__pycache__
fi
PRERM
(cd "$root" && find usr -type f -exec md5sum {} + | sort -k2) >"$root/DEBIAN/md5sums"
chmod 644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"
chmod 755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm"

mkdir -p "$out"
deb="$out/python3-mpexec_${version}_all.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
