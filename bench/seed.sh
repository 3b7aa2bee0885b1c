#!/usr/bin/env bash
# Benchmark: our cidata seed generation vs `genisoimage -volid cidata -joliet -rock` on the same user-data and
# meta-data: per seed in-process, and both as whole processes (hyperfine); output sizes.
# Usage: bench/seed.sh   (CONFIG=debug for a debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
config=${CONFIG:-release}
for tool in hyperfine:hyperfine genisoimage:genisoimage; do
  command -v "${tool%%:*}" >/dev/null || { apt-get update -qq && apt-get install -y -qq "${tool#*:}" >/dev/null; }
done
swift build -c "$config" --scratch-path ".build-$config" --product liveboot >/dev/null
bin=$(swift build -c "$config" --scratch-path ".build-$config" --show-bin-path)
work=$(mktemp -d /tmp/liveboot-seed-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
ssh-keygen -q -t ed25519 -N "" -C admin@gatekeeper -f "$work/admin"
ssh-keygen -q -t ed25519 -N "" -C alice@slice -f "$work/alice"
cat > "$work/liveboot.yaml" <<YAML
nodes: {w3: {hostname: sopnode-w3.inria.fr, drac: "127.0.0.1:1", drac-password: x}}
images: {ip: 127.0.0.1, port: 8080, path: images, absolute-path: $work}
authorized-keys-file: $work/admin.pub
YAML
inprocess=$("$bin/liveboot" cidata w3 --config "$work/liveboot.yaml" --key "$work/alice.pub" --boot-id b1 -o "$work/ours.iso" --repeat-count 2000 | head -1)
echo "$inprocess"
# The same two files for genisoimage, taken from our seed.
mkdir -p "$work/files"
isoinfo -R -x /user-data -i "$work/ours.iso" > "$work/files/user-data"
isoinfo -R -x /meta-data -i "$work/ours.iso" > "$work/files/meta-data"
genisoimage -quiet -output "$work/theirs.iso" -volid cidata -joliet -rock "$work/files/user-data" "$work/files/meta-data"
echo "sizes: ours $(stat -c %s "$work/ours.iso") bytes, genisoimage $(stat -c %s "$work/theirs.iso") bytes"
hyperfine --warmup 3 --runs 30 --style basic --export-json "$work/h.json" \
  "$bin/liveboot cidata w3 --config $work/liveboot.yaml --key $work/alice.pub --boot-id b1 -o $work/o.iso" \
  "genisoimage -quiet -output $work/t.iso -volid cidata -joliet -rock $work/files/user-data $work/files/meta-data"
python3 - "$work/h.json" "$inprocess" <<'PY'
import json, re, sys
ours, theirs = (r["mean"] for r in json.load(open(sys.argv[1]))["results"])
per_boot, cold = (float(x) for x in re.findall(r"([0-9.]+) µs", sys.argv[2])[:2])
print(f"per seed: genisoimage process {theirs*1e6:.0f} µs vs ours in-process {per_boot:.1f} µs per boot "
      f"({theirs*1e6/per_boot:.0f}×), {cold:.1f} µs cold ({theirs*1e6/cold:.0f}×); target ≥ 50×")
print(f"whole process: liveboot cidata {ours*1000:.1f} ms, genisoimage {theirs*1000:.1f} ms (ratio genisoimage/ours {theirs/ours:.2f})")
PY
