#!/bin/sh
# Installs the Debian packages mpexec needs, and nothing when they are all present.
#   packaging/install-deps.sh            build, test and run
#   packaging/install-deps.sh --bench    also the tools bench/compare.sh measures against
#   packaging/install-deps.sh --browser  also chromium, for the HTML report's browser test
#   packaging/install-deps.sh --fuzz     also clang 14 and its libFuzzer and sanitizer runtimes, for `make fuzz`
set -eu

pkgs="g++ make pkg-config libseccomp-dev libboost-json1.81-dev libbenchmark-dev libgtest-dev libfmt-dev
libcli11-dev doctest-dev libexpat1-dev libre2-dev zlib1g-dev curl jq libxml2-utils python3
python3-pytest python3-pytest-xdist python3-nose2 iproute2 util-linux tmux"
for arg in "$@"; do
  case "$arg" in
    --bench) pkgs="$pkgs parallel bubblewrap hyperfine cmake" ;;
    --browser) pkgs="$pkgs chromium" ;;
    --fuzz) pkgs="$pkgs clang-14 libclang-rt-14-dev" ;;
    --package) pkgs="$pkgs dpkg-dev lintian man-db" ;;
    *) echo "install-deps.sh: unknown option '$arg'" >&2; exit 2 ;;
  esac
done

missing=""
for p in $pkgs; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  case "$status" in
    *" installed") ;;
    *) missing="$missing $p" ;;
  esac
done
[ -z "$missing" ] && exit 0

echo "install-deps.sh: installing$missing" >&2
sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps.sh: need root or sudo to install:$missing" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
