#!/usr/bin/env bash
# The JSON API against its contract: schemathesis (PyPI) generates requests from Public/openapi.json — examples,
# boundary values, malformed bodies, sequences — and sends them with a member's token to a live `liveboot serve`
# over simulated iDRACs. It fails on any 5xx, any answer whose status, content type, headers or body the document
# does not describe. Runs with the debug build (deploy/test.sh builds it first).
# Usage: deploy/api-contract.sh [MAX_EXAMPLES=40]
set -euo pipefail
cd "$(dirname "$0")/.."
examples=${1:-40}
if [ ! -x .build-venv/bin/schemathesis ]; then
  [ -x .build-venv/bin/python3 ] || python3 -m venv .build-venv
  .build-venv/bin/pip install -q schemathesis
fi
command -v curl >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null; }
bin=$(swift build --show-bin-path)
for product in liveboot idrac-sim; do [ -x "$bin/$product" ] || swift build --product "$product" >/dev/null; done
work=$(mktemp -d /tmp/liveboot-contract.XXXXXX)
mkdir -p "$work/images"
head -c 1048576 /dev/urandom > "$work/images/ubuntu-22.04-liveboot.iso"
ln -s ubuntu-22.04-liveboot.iso "$work/images/u22"
ssh-keygen -q -t ed25519 -N "" -C contract -f "$work/key"
port=$(( 20000 + RANDOM % 20000 )); portal=$(( port + 1 ))
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT

"$bin/idrac-sim" --nodes 3 --inventory "$work/liveboot.yaml" --images-folder "$work/images" --images-port "$port" \
  --keys-file "$work/key.pub" > "$work/sim.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q ready "$work/sim.log" 2>/dev/null && break; sleep 0.1; done
printf 'portal:\n  database: %s/portal.sqlite\n  listen: 127.0.0.1\n  port: %s\n  node-url: "http://127.0.0.1:%s"\n  bcrypt-cost: 4\n' \
  "$work" "$portal" "$portal" >> "$work/liveboot.yaml"
export LIVEBOOT_CONFIG="$work/liveboot.yaml"
# A member of slice `radio`, which holds w1 and w2 now: the generated requests reach the handlers, not only the
# token check.
echo "contract-test-password" | "$bin/liveboot" admin user alice --slice radio >/dev/null
"$bin/liveboot" admin lease w1 --slice radio --hours 8 >/dev/null
"$bin/liveboot" admin lease w2 --slice radio --hours 8 >/dev/null
token=$("$bin/liveboot" admin token alice 2>/dev/null)
"$bin/liveboot" serve --host 127.0.0.1 --templates Templates --public-folder Public --status-interval 5 > "$work/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do curl -fs "http://127.0.0.1:$portal/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

set +e
# From the scratch folder: schemathesis keeps its cache (.schemathesis/) in the working directory.
venv=$PWD/.build-venv
(cd "$work" && "$venv/bin/schemathesis" run "http://127.0.0.1:$portal/api/v1/openapi.json" --url "http://127.0.0.1:$portal" \
  -H "Authorization: Bearer $token" --max-examples "$examples" --seed 1 --request-timeout 30 --workers 1 \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
  --no-color) 2>&1 | tee "$work/schemathesis.log"
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then echo "--- the server's log (last lines)"; tail -30 "$work/serve.log"; fi
echo "api contract: schemathesis $([ "$status" -eq 0 ] && echo passed || echo FAILED)"
exit "$status"
