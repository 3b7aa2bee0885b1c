#!/usr/bin/env bash
# The console panel's terminal: Debian's xterm.js, made loadable by a browser. Debian 12's libjs-xterm ships its
# xterm.js as a 288-byte CommonJS stub (`require("./public/Terminal")`), so the browser bundle is built here from
# node-xterm's modules with Debian's esbuild (global `XTermModule`), beside libjs-xterm's stylesheet. Nothing of
# xterm.js is kept in the repository: the output goes to OUT (git-ignored in a checkout).
# Usage: deploy/xterm.sh OUT   (e.g. .build-xterm for a checkout, /usr/share/liveboot/xterm when installed)
set -euo pipefail
out=${1:?usage: deploy/xterm.sh OUT}
need=()
[ -e /usr/share/nodejs/xterm/lib/public/Terminal.js ] || need+=(node-xterm)
[ -e /usr/share/javascript/xterm/xterm.css ] || need+=(libjs-xterm)
command -v esbuild >/dev/null || need+=(esbuild)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
mkdir -p "$out"
if [ ! -s "$out/xterm.js" ] || [ "$out/xterm.js" -ot /usr/share/nodejs/xterm/lib/public/Terminal.js ]; then
  esbuild /usr/share/nodejs/xterm/lib/public/Terminal.js --bundle --minify --format=iife --global-name=XTermModule \
    --log-level=warning --outfile="$out/xterm.js"
fi
cp /usr/share/javascript/xterm/xterm.css "$out/xterm.css"
