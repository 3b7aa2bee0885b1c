#!/usr/bin/env bash
# Fleet benchmark: NODES (500) simulated iDRACs answering every Redfish request after LATENCY (0.3 s), one
# `liveboot serve` with its status rounds running (every 10 s, so that each wrk window holds one), release build:
#   1. `lb status` of one node vs all (hyperfine, default flags; target all/1 <= 1.5);
#   2. the dashboard: server time per view with one viewer (wrk, 1 connection: the mean latency on loopback is the
#      server's time) and p99 under 10 concurrent viewers (target <= 20 ms and <= 50 ms);
#   3. BOOTS (100) live boots started at once through the API (`POST /api/v1/operations`): all must get ready;
#   4. the server's peak RSS and the SQLite busy errors in its log (target 0).
# Usage: [NODES=500] [BOOTS=100] bench/fleet.sh [LATENCY=0.3] [SECONDS=10]   (CONFIG=debug for a debug build)
set -euo pipefail
ulimit -n 65536 2>/dev/null || true  # hundreds of simulated BMCs, their ssh listeners and the server's sockets
cd "$(dirname "$0")/.."
latency=${1:-0.3}
seconds=${2:-10}
nodes=${NODES:-500}
boots=${BOOTS:-100}
config=${CONFIG:-release}
missing=()
for tool in hyperfine wrk curl jq; do command -v $tool >/dev/null || missing+=($tool); done
command -v ping >/dev/null || missing+=(iputils-ping)
if [ ${#missing[@]} -gt 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; fi

scratch=.build-$config; [ "$config" = debug ] && scratch=.build
for product in liveboot idrac-sim; do swift build -c "$config" --scratch-path "$scratch" --product "$product" >/dev/null; done
bin=$(swift build -c "$config" --scratch-path "$scratch" --show-bin-path)
work=$(mktemp -d /tmp/liveboot-fleet.XXXXXX)
mkdir -p "$work/images"
# A stand-in live image the simulated firmware boots: an ISO 9660 descriptor (sector 16), an El Torito record (17).
head -c 4194304 /dev/urandom > "$work/images/live.iso"
printf '\001CD001\001' | dd of="$work/images/live.iso" bs=1 seek=32768 conv=notrunc status=none
{ printf '\000CD001\001EL TORITO SPECIFICATION'; head -c 2018 /dev/zero; } |
  dd of="$work/images/live.iso" bs=1 seek=34816 conv=notrunc status=none
ssh-keygen -q -t ed25519 -N "" -C fleet -f "$work/key"
port=$(( 20000 + RANDOM % 20000 )); portal=$(( port + 1 ))
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT

"$bin/idrac-sim" --nodes "$nodes" --latency "$latency" --ssh-delay 2 --inventory "$work/liveboot.yaml" \
  --images-folder "$work/images" --images-port "$port" --keys-file "$work/key.pub" > "$work/sim.log" 2>&1 &
pids+=($!)
for _ in $(seq 600); do grep -q ready "$work/sim.log" 2>/dev/null && break; sleep 0.1; done
printf 'portal:\n  database: %s/portal.sqlite\n  listen: 127.0.0.1\n  port: %s\n  node-url: "http://127.0.0.1:%s"\n  bcrypt-cost: 4\n' \
  "$work" "$portal" "$portal" >> "$work/liveboot.yaml"
export LIVEBOOT_CONFIG="$work/liveboot.yaml"
echo "fleet-bench-password" | "$bin/liveboot" admin add admin >/dev/null
echo "fleet-bench-password" | "$bin/liveboot" admin user bench --slice fleet >/dev/null
for i in $(seq "$boots"); do "$bin/liveboot" admin lease "w$i" --slice fleet --hours 8 >/dev/null; done
token=$("$bin/liveboot" admin token bench 2>/dev/null)
"$bin/liveboot" serve --host 127.0.0.1 --status-interval 10 > "$work/serve.log" 2>&1 &
server=$!; pids+=($server)
for _ in $(seq 300); do curl -fs "http://127.0.0.1:$portal/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
jar="$work/cookies"
login=$(curl -fs -c "$jar" "http://127.0.0.1:$portal/login")
csrf=$(grep -o 'name="_csrf" value="[^"]*"' <<<"$login" | head -1 | cut -d'"' -f4)
curl -fs -b "$jar" -c "$jar" -o /dev/null --data-urlencode "name=admin" --data-urlencode "password=fleet-bench-password" \
  --data-urlencode "next=/" --data-urlencode "_csrf=$csrf" "http://127.0.0.1:$portal/login"
cookie=$(awk '$6 == "lb_session" {print $6 "=" $7}' "$jar")
# The dashboard shows every node once the first round is over.
for _ in $(seq 600); do
  rows=$(curl -fs -b "$jar" "http://127.0.0.1:$portal/" | grep -c '<tr data-node=' || true)
  [ "$rows" -ge "$nodes" ] && break; sleep 0.5
done
echo "== $nodes simulated iDRACs, ${latency}s per Redfish answer, status rounds every 10 s ($config build)"
echo "dashboard: $rows rows, $(curl -fs -b "$jar" "http://127.0.0.1:$portal/" | wc -c) bytes"

echo "== 1. lb status, one node vs all (default flags)"
hyperfine --warmup 1 --runs 5 --style basic --export-json "$work/status.json" \
  "$bin/liveboot status w1" "$bin/liveboot status all" | grep -E 'Time|±' || true
python3 - "$work/status.json" <<'PY'
import json, sys
one, every = (x["mean"] for x in json.load(open(sys.argv[1]))["results"])
print(f"status: 1 node {one:.3f} s, all nodes {every:.3f} s, ratio {every / one:.2f} (target <= 1.5)")
PY

echo "== 2. dashboard under wrk (${seconds}s each)"
wrk_latency() {  # connections → "mean p99" in ms
  wrk -t "$(( $1 < 2 ? 1 : 2 ))" -c "$1" -d "${seconds}s" --latency -H "Cookie: $cookie" "http://127.0.0.1:$portal/" > "$work/wrk.txt"
  awk '/Requests\/sec/ {rps = $2}
       /^ +Latency +[0-9]/ {mean = $2}
       /^ +99%/ {p99 = $2}
       END {print mean, p99, rps}' "$work/wrk.txt"
}
read -r mean _ rps < <(wrk_latency 1)
echo "one viewer: $mean per view ($rps views/s) (target <= 20ms)"
read -r mean p99 rps < <(wrk_latency 10)
echo "10 viewers: mean $mean, p99 $p99 ($rps views/s) (target p99 <= 50ms)"

echo "== 3. $boots live boots at once through the API"
targets=$(seq -f 'w%g' "$boots" | jq -R . | jq -sc .)
start=$(date +%s.%N)
curl -fs -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d "{\"action\":\"liveboot\",\"image\":\"live.iso\",\"nodes\":$targets}" "http://127.0.0.1:$portal/api/v1/operations" > "$work/started.json"
ids=$(jq -r '.[] | .operation.id // empty' "$work/started.json")
refused=$(jq '[.[] | select(.refused)] | length' "$work/started.json")
echo "started $(wc -w <<<"$ids"), refused $refused"
declare -A result
for _ in $(seq 1200); do
  pending=0
  for id in $ids; do
    [ -n "${result[$id]:-}" ] && continue
    state=$(curl -fs -H "Authorization: Bearer $token" "http://127.0.0.1:$portal/api/v1/operations/$id" | jq -r .operation.state)
    case $state in running) pending=$((pending + 1)) ;; *) result[$id]=$state ;; esac
  done
  [ $pending -eq 0 ] && break
  sleep 1
done
took=$(awk "BEGIN {printf \"%.1f\", $(date +%s.%N) - $start}")
ok=0; for id in $ids; do [ "${result[$id]:-}" = succeeded ] && ok=$((ok + 1)); done
echo "ready: $ok of $boots in $took s"
for id in $ids; do
  [ "${result[$id]:-}" = succeeded ] || { curl -fs -H "Authorization: Bearer $token" "http://127.0.0.1:$portal/api/v1/operations/$id" | jq -c "{node: .operation.node, state: .operation.state, message: .operation.message}"; }
done | head -5

echo "== 4. the server"
echo "peak RSS: $(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$server/status") MiB"
echo "SQLite busy errors in the log: $(grep -ciE 'database is locked|SQLITE_BUSY|busy' "$work/serve.log" || true)"
