#!/usr/bin/env bash
# A working demo with no hardware: 4 simulated Dell iDRAC 9 nodes on loopback, the vmedia server, and a
# scripted admin session (status, live boot with a slice key, BIOS, job queue, disk boot).
# Usage: deploy/demo.sh [--keep]   (--keep leaves the simulator and server running, and prints how to use them)
set -euo pipefail
cd "$(dirname "$0")/.."
keep=false; [ "${1:-}" = "--keep" ] && keep=true

need=()
command -v ping >/dev/null || need+=(iputils-ping)
command -v ssh-keygen >/dev/null || need+=(openssh-client)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

echo "== building (first time: a few minutes)"
build_log=$(mktemp)
for product in liveboot idrac-sim; do
  swift build --product "$product" > "$build_log" 2>&1 || { tail -30 "$build_log"; exit 1; }
done
rm -f "$build_log"
deploy/xterm.sh .build-xterm   # the console panel's terminal (Debian's xterm.js, bundled for the browser)
bin=$(swift build --show-bin-path)

demo=${LIVEBOOT_DEMO_DIR:-/tmp/liveboot-demo}
rm -rf "$demo"; mkdir -p "$demo/images"
pids=()
cleanup() { $keep || { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }; }
trap cleanup EXIT

# A stand-in "live image" (the simulated BMC reads it with ranged GETs, like an iDRAC) and its short name. The
# simulated firmware, like a real one, boots a CD only with an ISO 9660 primary volume descriptor (sector 16) and an
# El Torito boot record (sector 17): both are written into the random bytes.
head -c 4194304 /dev/urandom > "$demo/images/ubuntu-22.04-liveboot.iso"
printf '\001CD001\001' | dd of="$demo/images/ubuntu-22.04-liveboot.iso" bs=1 seek=32768 conv=notrunc status=none
{ printf '\000CD001\001EL TORITO SPECIFICATION'; head -c 2018 /dev/zero; } |
  dd of="$demo/images/ubuntu-22.04-liveboot.iso" bs=1 seek=34816 conv=notrunc status=none
ln -s ubuntu-22.04-liveboot.iso "$demo/images/u22"
ssh-keygen -q -t ed25519 -N "" -C "admin@gatekeeper" -f "$demo/testbed-key"
ssh-keygen -q -t ed25519 -N "" -C "alice@slice" -f "$demo/slice-key"
port=$(( 20000 + RANDOM % 20000 )); portal=$(( port + 1 ))  # vmedia (the BMCs'), portal (the users')

"$bin/idrac-sim" --nodes 4 --inventory "$demo/liveboot.yaml" --images-folder "$demo/images" \
  --images-port "$port" --keys-file "$demo/testbed-key.pub" --ssh-delay 2 > "$demo/sim.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q ready "$demo/sim.log" 2>/dev/null && break; sleep 0.1; done
# The portal's database beside the config; an administrator and a slice member whose slice holds w1-w2 now.
# The simulated nodes' OS reaches the portal on loopback: their live sessions report there (cloud-init's phone_home).
printf 'portal:\n  database: portal.sqlite\n  port: %s\n  node-url: http://127.0.0.1:%s\n' "$portal" "$portal" >> "$demo/liveboot.yaml"
export LIVEBOOT_CONFIG="$demo/liveboot.yaml"
echo "admin-demo-password" | "$bin/liveboot" admin add admin >/dev/null
echo "alice-demo-password" | "$bin/liveboot" admin user alice --slice demo >/dev/null
"$bin/liveboot" admin lease w1 --slice demo --hours 24 >/dev/null
"$bin/liveboot" admin lease w2 --slice demo --hours 24 >/dev/null
"$bin/liveboot" serve --config "$demo/liveboot.yaml" --host 127.0.0.1 --status-interval 5 > "$demo/serve.log" 2>&1 &
pids+=($!)
for p in $port $portal; do
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && break; sleep 0.1; done
done

lb() { echo; echo "\$ lb $*"; "$bin/liveboot" "$@"; }
echo "The portal: http://127.0.0.1:$portal/  — log in as alice / alice-demo-password (slice demo, holds w1 and w2)"
echo "            or admin / admin-demo-password.  (vmedia, for the BMCs: http://127.0.0.1:$port/images/…, /seeds/…)"
lb status all
lb images
lb vmedia check "http://127.0.0.1:$port/images/u22.iso"
lb liveboot w3 -i u22 --key "$demo/slice-key.pub" --wait
lb known-hosts w3
lb screenshot w3 -o "$demo/w3-screen.png"
lb status w3
lb biosget w3 'profile|usb'
lb biosset w3 SysProfile=PerfOptimized
lb queueget w3
lb biosset w3 SysProfile=Fastest || true
lb diskboot w3
lb wait w3
lb status w3 --bmc
lb admin leases

if $keep; then
  echo; echo "Simulator and vmedia server left running (pids ${pids[*]})."
  echo "Try: LIVEBOOT_CONFIG=$demo/liveboot.yaml $bin/liveboot status all"
  echo "Portal: http://127.0.0.1:$portal/  (alice / alice-demo-password, admin / admin-demo-password)"
fi
