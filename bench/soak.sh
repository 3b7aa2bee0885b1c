#!/usr/bin/env bash
# Soak: `liveboot serve` as a testbed runs it, for MINUTES — 40 simulated iDRACs, a status round every 5 s, a
# logged-in browser fetching the dashboard and node pages, and BMC-like vmedia readers (HEAD + ranged GETs on
# keep-alive connections). Every minute it prints the server's open descriptors, RSS and the time of one dashboard
# and one ranged read; at the end, start against end. Flat descriptors and RSS are the point (issue 14: a leaking
# ping probe took a 40-node server to its descriptor limit in about 25 minutes).
# Usage: bench/soak.sh [MINUTES=30]   (CONFIG=debug for a debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-30}
config=${CONFIG:-release}
command -v curl >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null; }
command -v ping >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iputils-ping >/dev/null; }

# A debug build is the tests' own (.build); a release build has its own folder, as bench/vmedia.sh's.
scratch=.build-$config; [ "$config" = debug ] && scratch=.build
for product in liveboot idrac-sim; do swift build -c "$config" --scratch-path "$scratch" --product "$product" >/dev/null; done
bin=$(swift build -c "$config" --scratch-path "$scratch" --show-bin-path)
work=$(mktemp -d /tmp/liveboot-soak.XXXXXX)
mkdir -p "$work/images"
head -c 67108864 /dev/urandom > "$work/images/live.iso"
ssh-keygen -q -t ed25519 -N "" -C soak -f "$work/key" 2>/dev/null || echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMXl/wzGybfXj2lMrWlB6k89taQ4ufIbSzJGzgqzivmX soak" > "$work/key.pub"
port=$(( 20000 + RANDOM % 20000 )); portal=$(( port + 1 ))  # vmedia, portal
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT

"$bin/idrac-sim" --nodes 40 --inventory "$work/liveboot.yaml" --images-folder "$work/images" --images-port "$port" \
  --keys-file "$work/key.pub" --latency 0.02 > "$work/sim.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do grep -q ready "$work/sim.log" 2>/dev/null && break; sleep 0.1; done
printf 'portal:\n  database: portal.sqlite\n  bcrypt-cost: 4\n' >> "$work/liveboot.yaml"
export LIVEBOOT_CONFIG="$work/liveboot.yaml"
echo "soak-password-long" | "$bin/liveboot" admin add admin >/dev/null
"$bin/liveboot" serve --config "$work/liveboot.yaml" --host 127.0.0.1 --port "$portal" --status-interval 5 > "$work/serve.log" 2>&1 &
server=$!
pids+=($server)
for _ in $(seq 300); do curl -fs "http://127.0.0.1:$portal/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

# A browser: log in once, then pages in a loop.
jar="$work/cookies"
login=$(curl -fs -c "$jar" "http://127.0.0.1:$portal/login")
csrf=$(grep -o 'name="_csrf" value="[^"]*"' <<<"$login" | head -1 | cut -d'"' -f4)
curl -fs -b "$jar" -c "$jar" -o /dev/null --data-urlencode "name=admin" --data-urlencode "password=soak-password-long" \
  --data-urlencode "next=/" --data-urlencode "_csrf=$csrf" "http://127.0.0.1:$portal/login"
( while true; do
    curl -fs -b "$jar" -o /dev/null "http://127.0.0.1:$portal/" || true
    curl -fs -b "$jar" -o /dev/null "http://127.0.0.1:$portal/nodes/w$(( RANDOM % 40 + 1 ))" || true
    curl -fs -b "$jar" -o /dev/null "http://127.0.0.1:$portal/api/v1/nodes" || true
    sleep 0.2
  done ) &
pids+=($!)
# Four BMC-like readers: a HEAD, then 256 ranged 64 KiB GETs on one keep-alive connection, over and over.
size=67108864
for _ in 1 2 3 4; do
  ( while true; do
      args=(-fs -o /dev/null -I "http://127.0.0.1:$port/images/live.iso")
      for _ in $(seq 256); do
        offset=$(( (RANDOM * 32768 + RANDOM) % (size - 65536) ))
        args+=(--next -fs -o /dev/null -H "Range: bytes=$offset-$((offset + 65535))" "http://127.0.0.1:$port/images/live.iso")
      done
      curl "${args[@]}" || true
    done ) &
  pids+=($!)
done

sample() {
  local fds rss dash range
  fds=$(ls "/proc/$server/fd" | wc -l)
  rss=$(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$server/status")
  dash=$(curl -fs -b "$jar" -o /dev/null -w '%{time_total}' "http://127.0.0.1:$portal/")
  range=$(curl -fs -o /dev/null -H "Range: bytes=0-65535" -w '%{time_total}' "http://127.0.0.1:$port/images/live.iso")
  printf '%s  descriptors %5s  RSS %5s MiB  dashboard %6.1f ms  64 KiB range %6.1f ms\n' "$1" "$fds" "$rss" \
    "$(awk "BEGIN {print $dash * 1000}")" "$(awk "BEGIN {print $range * 1000}")"
}

echo "soak: 40 nodes, status every 5 s, $minutes min ($config build); server pid $server"
sleep 20   # the first rounds, pools and caches
first=$(sample "start ")
echo "$first"
for minute in $(seq "$minutes"); do
  sleep 60
  kill -0 "$server" 2>/dev/null || { echo "the server died"; tail -20 "$work/serve.log"; exit 1; }
  sample "$(printf 'min %3d' "$minute")"
done
echo "---"
echo "$first"
sample "end   "
