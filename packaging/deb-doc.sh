# Sourced by deb.sh and deb-python.sh: deb_doc DOC_DIR VERSION DATED_BY writes the copyright file and the
# changelog lintian expects in /usr/share/doc/<package>: a native package's changelog (dpkg-parsechangelog
# format), dated by the file DATED_BY, so rebuilds match.
deb_doc() {
  install -d "$1"
  cat >"$1/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: mpexec

Files: *
Copyright: 2026 the mpexec authors
License: see the source distribution of mpexec
COPYRIGHT
  gzip -9n >"$1/changelog.gz" <<CHANGELOG
mpexec ($2) unstable; urgency=medium

  * Release $2.

 -- mpexec maintainers <maintainers@mpexec.invalid>  $(date -R -u -r "$3")
CHANGELOG
  chmod 644 "$1/copyright" "$1/changelog.gz"
}
