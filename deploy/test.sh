#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests use, builds, tests.
# Usage: deploy/test.sh [extra `swift test` arguments, e.g. --filter SeedTests]
set -euo pipefail
cd "$(dirname "$0")/.."

# System tools the tests drive: the seed's independent readers (isoinfo, xorriso, blkid, bsdtar, 7z, pycdlib) and
# cloud-init's schema check, ping (status probe), openssl (a TLS BMC), ssh-keygen (key fingerprints), SQLite's
# headers (GRDB), headless Chromium with its WebDriver for the portal's browser test, and tmux (drives `lb console`
# as a terminal).
need=()
command -v isoinfo >/dev/null || need+=(genisoimage)
command -v xorriso >/dev/null || need+=(xorriso)
command -v blkid >/dev/null || need+=(util-linux)
command -v bsdtar >/dev/null || need+=(libarchive-tools)
command -v 7z >/dev/null || need+=(p7zip-full)
command -v cloud-init >/dev/null || need+=(cloud-init)
command -v ping >/dev/null || need+=(iputils-ping)
command -v openssl >/dev/null || need+=(openssl)
command -v ssh-keygen >/dev/null || need+=(openssh-client)
[ -e /usr/include/sqlite3.h ] || need+=(libsqlite3-dev)
command -v chromium >/dev/null || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
command -v tmux >/dev/null || need+=(tmux)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
python3 -c "import pycdlib" 2>/dev/null || python3 -m pip install -q pycdlib
python3 -c "import selenium" 2>/dev/null || python3 -m pip install -q selenium
command -v ksvalidator >/dev/null || python3 -m pip install -q pykickstart   # validates deploy/images' kickstarts
# OpenStack's sushy-tools Redfish emulator (the generic-BMC tests start it with its fake driver), in a venv of the
# checkout's own (.build-venv is git-ignored).
if [ ! -x .build-venv/bin/sushy-emulator ]; then
  python3 -m venv .build-venv
  .build-venv/bin/pip install -q sushy-tools
fi

# The console panel's terminal (Debian's xterm.js, bundled for the browser into the git-ignored .build-xterm).
deploy/xterm.sh .build-xterm

# Build everything first (the integration tests run the `liveboot` binary), then test.
swift build --build-tests
log=$(mktemp)
set +e
swift test --skip-build --disable-swift-testing "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# The JSON API against its OpenAPI document: schemathesis on a live server over simulated iDRACs (~15 s).
contract_log=$(mktemp)
contract=0
deploy/api-contract.sh > "$contract_log" 2>&1 || contract=$?
if [ "$contract" -eq 0 ]; then tail -4 "$contract_log"; else tail -120 "$contract_log"; status=1; fi
rm -f "$contract_log"
# The real boot of a qemu guest over Redfish (deploy/e2e/run, ~12 min, needs root and libvirt): opt-in.
if [ "${LIVEBOOT_E2E:-0}" = 1 ] && [ "$status" -eq 0 ]; then
  deploy/e2e/run both | tee -a "$log" || status=1
fi
summary=$(grep -E "^[[:space:]]*Executed [0-9]+ tests?, with [0-9]+ failures?" "$log" | tail -1)
rm -f "$log"
if [[ $summary =~ Executed\ ([0-9]+)\ tests?,\ with\ ([0-9]+)\ failure ]]; then
  total=${BASH_REMATCH[1]}; failed=${BASH_REMATCH[2]}
  echo "tests: $((total - failed)) passed, $failed failed"
fi
exit "$status"
