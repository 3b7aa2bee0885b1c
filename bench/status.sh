#!/usr/bin/env bash
# Benchmark: `lb status` of 1, 10 and NODES (40) simulated nodes with injected BMC latency, default flags, and the
# number of Redfish requests one `status` and one `liveboot` make. Needs hyperfine (installed from Debian if missing).
# Usage: [NODES=40] bench/status.sh [LATENCY_SECONDS=0.3]   (CONFIG=debug for a debug build)
set -euo pipefail
ulimit -n 65536 2>/dev/null || true  # hundreds of simulated BMCs, their ssh listeners and the client's sockets
cd "$(dirname "$0")/.."
latency=${1:-0.3}
nodes=${NODES:-40}
config=${CONFIG:-release}
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
command -v ping >/dev/null || { apt-get update -qq && apt-get install -y -qq iputils-ping >/dev/null; }

swift build -c "$config" --scratch-path ".build-$config" --product liveboot >/dev/null
swift build -c "$config" --scratch-path ".build-$config" --product idrac-sim >/dev/null
bin=$(swift build -c "$config" --scratch-path ".build-$config" --show-bin-path)
work=$(mktemp -d /tmp/liveboot-bench.XXXXXX)
mkdir -p "$work/images"
head -c 1048576 /dev/zero > "$work/images/live.iso"
ssh-keygen -q -t ed25519 -N "" -f "$work/key"
port=$(( 20000 + RANDOM % 20000 ))
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT

"$bin/idrac-sim" --nodes "$nodes" --latency "$latency" --ssh-delay 0.2 --inventory "$work/liveboot.yaml" \
  --images-folder "$work/images" --images-port "$port" --keys-file "$work/key.pub" > "$work/sim.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do grep -q ready "$work/sim.log" 2>/dev/null && break; sleep 0.1; done
portal=$(( port + 1 ))
# The portal's database in the bench's folder; the live sessions would report to it.
echo "portal: {database: $work/portal.sqlite, listen: 127.0.0.1, port: $portal, node-url: \"http://127.0.0.1:$portal\"}" \
  >> "$work/liveboot.yaml"
"$bin/liveboot" serve --config "$work/liveboot.yaml" --host 127.0.0.1 > "$work/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
export LIVEBOOT_CONFIG="$work/liveboot.yaml"

echo "== lb status, ${latency}s injected latency per Redfish answer ($config build)"
hyperfine --warmup 1 --runs 5 --style basic --export-json "$work/status.json" \
  "$bin/liveboot status w1" "$bin/liveboot status w1-10" "$bin/liveboot status all"
python3 - "$work/status.json" "$nodes" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
one, ten, every = (x["mean"] for x in r)
n = sys.argv[2]
print(f"status wall time: 1 node {one:.3f} s, 10 nodes {ten:.3f} s, all {n} nodes {every:.3f} s")
print(f"ratio all/1-node: {every / one:.2f} (target <= 1.5)")
PY

echo "== Redfish requests"
"$bin/liveboot" status w1 --stats 2>&1 >/dev/null | sed 's/^/status, 1 node: /'
"$bin/liveboot" liveboot w2 -i live.iso --stats 2>&1 >/dev/null | sed 's/^/liveboot, 1 node: /'
"$bin/liveboot" diskboot w2 --stats 2>&1 >/dev/null | sed 's/^/diskboot, 1 node: /'
