#!/usr/bin/env bash
# Builds a Fedora or Rocky live ISO for liveboot with livecd-creator (livecd-tools), from the kickstarts beside
# this script. Runs on a Fedora or Rocky host only (livecd-creator needs the target's dnf and rpm), as root.
#
# Usage: build-live.sh fedora|rocky VERSION [OUTPUT_DIR]       e.g. build-live.sh fedora 43 /var/lib/liveboot/images
#        build-live.sh --render fedora|rocky VERSION DIR      only writes the kickstarts, mirror filled in, to DIR
# Environment: MIRROR — a local mirror (same layout as the default: see the kickstart's first lines).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

render_only=false
if [ "${1:-}" = "--render" ]; then render_only=true; shift; fi
family=${1:?usage: build-live.sh fedora|rocky VERSION [OUTPUT_DIR]}
version=${2:?usage: build-live.sh fedora|rocky VERSION [OUTPUT_DIR]}
out=${3:-.}

case "$family-$version" in
  fedora-37) default_mirror=https://archives.fedoraproject.org/pub/archive/fedora/linux ;;
  fedora-*)  default_mirror=https://dl.fedoraproject.org/pub/fedora/linux ;;
  rocky-*)   default_mirror=https://dl.rockylinux.org/pub/rocky ;;
  *) echo "build-live.sh: family must be fedora or rocky" >&2; exit 2 ;;
esac
kickstart="$here/$family-$version.ks"
[ -f "$kickstart" ] || { echo "build-live.sh: no recipe $kickstart (have: $(cd "$here" && ls *.ks | tr '\n' ' '))" >&2; exit 2; }
mirror=${MIRROR:-$default_mirror}

render() {  # the kickstart and the file it includes, with the mirror filled in
  local dir=$1
  mkdir -p "$dir"
  sed "s|@MIRROR@|${mirror%/}|g" "$kickstart" > "$dir/$family-$version.ks"
  cp "$here/liveboot-common.ks" "$dir/"
}

if $render_only; then render "$out"; echo "$out/$family-$version.ks"; exit 0; fi

# The host check: say precisely what is missing rather than fail half-way.
. /etc/os-release
case "${ID:-}" in fedora|rocky|rhel|almalinux|centos) ;; *)
  echo "build-live.sh: livecd-creator runs on a Fedora or Rocky host; this is ${PRETTY_NAME:-unknown}" >&2; exit 3 ;;
esac
[ "$(id -u)" -eq 0 ] || { echo "build-live.sh: run as root (livecd-creator mounts loop devices)" >&2; exit 3; }
command -v livecd-creator >/dev/null || { echo "build-live.sh: dnf install livecd-tools" >&2; exit 3; }

work=$(mktemp -d /var/tmp/liveboot-live-XXXXXX)
trap 'rm -rf "$work"' EXIT
render "$work"
label="liveboot-$family-$version"   # the ISO's volume label (fslabel: 32 characters at most)
name="$family-$version-liveboot"
start=$(date +%s)
( cd "$work" && livecd-creator --verbose --releasever="$version" --config="$family-$version.ks" \
    --fslabel="$label" --title="liveboot $family $version" --product="liveboot" \
    --cache=/var/cache/liveboot-livecd --tmpdir="$work" )
mkdir -p "$out"
mv "$work/$label.iso" "$out/$name.iso"
echo "$out/$name.iso: $(du -h "$out/$name.iso" | cut -f1), built in $(( $(date +%s) - start )) s"
