#!/usr/bin/env bash
# Benchmark: `liveboot serve` vs nginx (sendfile on) on the same files, both on loopback, one run:
#   wrk random 1 MiB and 32 KiB Range GETs over 10 and 64 connections, and 64 concurrent full-ISO streams of a
#   2 GiB sparse file; req/s, MB/s, p99 latency, the ratio ours/nginx, and our server's peak RSS. Both are read at a
#   boot's own path (`/boot/<boot id>/…`), as BMCs read ours: each of our answers is counted for that boot.
# Each case runs SECONDS per server, in 4 slices taken in the order ours, nginx, nginx, ours, ours, nginx, nginx, ours:
# on this 2-core VM one server's figure drifts by ±15 % between runs of a few seconds, and a drift would otherwise
# land on whichever server always runs second.
# Usage: bench/vmedia.sh [SECONDS=10]   (CONFIG=debug for a debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
config=${CONFIG:-release}
missing=()
command -v nginx >/dev/null || missing+=(nginx)
command -v wrk >/dev/null || missing+=(wrk)
if [ ${#missing[@]} -gt 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; fi

swift build -c "$config" --scratch-path ".build-$config" --product liveboot >/dev/null
bin=$(swift build -c "$config" --scratch-path ".build-$config" --show-bin-path)
work=$(mktemp -d /tmp/liveboot-vmedia-bench.XXXXXX)
chmod 755 "$work"  # nginx's workers run as nobody
mkdir -p "$work/images" "$work/nginx"
# 1 GiB of real bytes for the ranged reads (in the page cache after the first pass for both servers alike),
# and a 2 GiB sparse file for the full streams.
head -c 1073741824 /dev/urandom > "$work/images/live.iso"
truncate -s 2G "$work/images/sparse.iso"
ours=$(( 20000 + RANDOM % 10000 )); theirs=$(( ours + 1 ))
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; nginx -c "$work/nginx/nginx.conf" -s stop 2>/dev/null || true; rm -rf "$work"' EXIT

cat > "$work/liveboot.yaml" <<YAML
images: {proto: http, ip: 127.0.0.1, port: $ours, path: images, absolute-path: $work/images}
portal: {database: $work/portal.sqlite, port: $(( ours + 2 ))}
YAML
"$bin/liveboot" serve --config "$work/liveboot.yaml" --host 127.0.0.1 > "$work/serve.log" 2>&1 &
server=$!; pids+=($server)

cat > "$work/nginx/nginx.conf" <<NGINX
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  server {
    listen 127.0.0.1:$theirs;
    location /images/ { alias $work/images/; }
    location /boot/bench-boot/ { alias $work/images/; }
  }
}
NGINX
nginx -c "$work/nginx/nginx.conf"
for port in $ours $theirs; do
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
done

for size in 1048576 32768; do
  cat > "$work/range-$size.lua" <<LUA
math.randomseed(os.time())
request = function()
  local start = math.random(0, 1073741824 - $size)
  return wrk.format("GET", "/boot/bench-boot/live.iso", { ["Range"] = "bytes=" .. start .. "-" .. (start + $size - 1) })
end
LUA
done
cat "$work/images/live.iso" > /dev/null  # warm the page cache for both

slices=4; slice=$(( (duration + slices - 1) / slices ))
run() {  # name port connections script-or-path
  local out
  if [[ $4 == *.lua ]]; then
    out=$(wrk -t2 -c"$3" -d"${slice}s" --latency -s "$4" "http://127.0.0.1:$2/boot/bench-boot/live.iso")
  else
    out=$(wrk -t2 -c"$3" -d"${slice}s" --latency "http://127.0.0.1:$2$4")
  fi
  echo "$out" > "$work/$1.txt"
}

declare -a cases=("range1M-c10:10:$work/range-1048576.lua" "range1M-c64:64:$work/range-1048576.lua"
                  "range32K-c10:10:$work/range-32768.lua" "range32K-c64:64:$work/range-32768.lua"
                  "stream2G-c64:64:/boot/bench-boot/sparse.iso")
for case in "${cases[@]}"; do
  IFS=: read -r name connections target <<<"$case"
  for s in $(seq $slices); do
    if (( s % 2 )); then order="ours nginx"; else order="nginx ours"; fi
    for who in $order; do
      if [ "$who" = ours ]; then port=$ours; else port=$theirs; fi
      run "$who-$name-$s" "$port" "$connections" "$target"
    done
  done
  echo "$name $(awk '/VmHWM/ {print $2}' "/proc/$server/status")" >> "$work/rss.txt"
done
# Every answer must have been a 2xx on a connection kept: a 403/404, or a server dropping connections, would look fast.
for f in "$work"/*.txt; do
  if grep -qE "Non-2xx|Socket errors" "$f"; then echo "$(basename "$f" .txt): $(grep -E "Non-2xx|Socket errors" "$f" | tr -s ' ' | tr '\n' ' ')"; fi
done
rss=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")

python3 - "$work" "$rss" <<'PY'
import re, sys, os
work, rss = sys.argv[1], int(sys.argv[2])
def parse(path):
    text = open(path).read()
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+), ([\d.]+)(\w+) read", text)
    seconds = float(m.group(2)) * {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60}[m.group(3)]
    mb = float(m.group(4)) * {"B": 1e-6, "KB": 1.024e-3, "MB": 1.048576, "GB": 1073.741824, "TB": 1099511.627776}[m.group(5)]
    p = re.search(r"99%\s+([\d.]+)(\w+)", text)
    p99 = float(p.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}.get(p.group(2), 1) if p else float("nan")
    return int(m.group(1)), seconds, mb, p99
def total(server, name):
    """Requests/s and MB/s over all slices; the median slice's p99."""
    runs = [parse(os.path.join(work, f)) for f in sorted(os.listdir(work)) if f.startswith(f"{server}-{name}-")]
    seconds = sum(r[1] for r in runs)
    p99s = sorted(r[3] for r in runs)
    return sum(r[0] for r in runs) / seconds, sum(r[2] for r in runs) / seconds, p99s[len(p99s) // 2]
print(f"{'case':14} {'ours req/s':>11} {'nginx req/s':>12} {'ours MB/s':>10} {'nginx MB/s':>11} {'ours p99':>9} {'nginx p99':>10} {'ratio':>6}")
for name in ["range1M-c10", "range1M-c64", "range32K-c10", "range32K-c64", "stream2G-c64"]:
    o, n = total("ours", name), total("nginx", name)
    ratio = (o[1] / n[1]) if n[1] else float("nan")
    print(f"{name:14} {o[0]:11.0f} {n[0]:12.0f} {o[1]:10.0f} {n[1]:11.0f} {o[2]:8.1f}ms {n[2]:8.1f}ms {ratio:6.2f}")
print(f"liveboot serve peak RSS: {rss/1024:.0f} MB; after each case: " +
      ", ".join(f"{n} {int(k)//1024} MB" for n, k in (l.split() for l in open(f"{work}/rss.txt"))))
PY
