#!/bin/sh
# Builds the Debian package of mpexec with dpkg-deb: the binary, mpexec-spawner, libmpexec-http.so and
# libmpexec-spawner.so (taken from beside it), the man page, bash completion and the documentation lintian expects. Depends comes from dpkg-shlibdeps, so it names the runtime libraries the
# binary really links.
#   packaging/deb.sh BIN VERSION OUTDIR    → OUTDIR/mpexec_VERSION_ARCH.deb (its path on stdout)
set -eu

[ $# -eq 3 ] || { echo "usage: packaging/deb.sh BIN VERSION OUTDIR" >&2; exit 2; }
bin=$1 version=$2 out=$3
spawner=$(dirname "$bin")/mpexec-spawner
http=$(dirname "$bin")/libmpexec-http.so
preload=$(dirname "$bin")/libmpexec-spawner.so
for f in "$spawner" "$http" "$preload"; do
  [ -f "$f" ] || { echo "deb.sh: $f not found (make builds it beside mpexec)" >&2; exit 1; }
done
here=$(cd "$(dirname "$0")" && pwd)
. "$here/deb-doc.sh"
arch=$(dpkg --print-architecture)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
root=$work/root

install -d "$root/DEBIAN" "$root/usr/bin" "$root/usr/lib/mpexec" "$root/usr/share/man/man1" \
  "$root/usr/share/doc/mpexec" "$root/usr/share/bash-completion/completions" "$root/usr/share/lintian/overrides"
install -m755 "$bin" "$root/usr/bin/mpexec"
install -m755 "$spawner" "$root/usr/lib/mpexec/mpexec-spawner"
install -m644 "$http" "$root/usr/lib/mpexec/libmpexec-http.so"
install -m644 "$preload" "$root/usr/lib/mpexec/libmpexec-spawner.so"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/bin/mpexec" \
  "$root/usr/lib/mpexec/mpexec-spawner" "$root/usr/lib/mpexec/libmpexec-http.so" \
  "$root/usr/lib/mpexec/libmpexec-spawner.so"
# Static on purpose: every unit's clone copies its mappings (docs/sandbox.md).
echo "mpexec: statically-linked-binary" >"$root/usr/share/lintian/overrides/mpexec"
gzip -9n <"$here/mpexec.1" >"$root/usr/share/man/man1/mpexec.1.gz"
install -m644 "$here/bash-completion/mpexec" "$root/usr/share/bash-completion/completions/mpexec"
deb_doc "$root/usr/share/doc/mpexec" "$version" "$bin"
chmod 644 "$root/usr/share/man/man1/mpexec.1.gz" "$root/usr/share/lintian/overrides/mpexec"

# dpkg-shlibdeps reads debian/control of a source package; a minimal one is enough.
mkdir -p "$work/debian"
printf 'Source: mpexec\n\nPackage: mpexec\nArchitecture: any\n' >"$work/debian/control"
depends=$(cd "$work" && dpkg-shlibdeps -O -e root/usr/bin/mpexec -e root/usr/lib/mpexec/libmpexec-http.so \
  -e root/usr/lib/mpexec/libmpexec-spawner.so 2>/dev/null |
  sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || { echo "deb.sh: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

size=$(du -k -s "$root/usr" | cut -f1)
cat >"$root/DEBIAN/control" <<CONTROL
Package: mpexec
Version: $version
Architecture: $arch
Maintainer: mpexec maintainers <maintainers@mpexec.invalid>
Installed-Size: $size
Depends: $depends
Recommends: python3-mpexec
Section: devel
Priority: optional
Description: sandboxed, container-per-group test executor
 mpexec reads a JSON manifest of test commands and runs them on N worker
 slots. Every free test, and every serial group, runs in its own Linux
 namespace sandbox; isolated groups get the machine to themselves behind a
 barrier. A local HTTP sync service lets tests share a message board, locks
 and trails. It imports GoogleTest binaries and CTest projects, shards runs
 across CI machines, merges the shards' reports and writes JUnit XML.
CONTROL
(cd "$root" && find usr -type f -exec md5sum {} + | sort -k2) >"$root/DEBIAN/md5sums"
chmod 644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"

mkdir -p "$out"
deb="$out/mpexec_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
