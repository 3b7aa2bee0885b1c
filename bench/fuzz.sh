#!/usr/bin/env bash
# Fuzzing: libFuzzer (Swift's -sanitize=fuzzer, with AddressSanitizer) on the parsers an anonymous client reaches —
# the vmedia request reader (against NIO's decoder), Range and the conditional fields on a real file, the ssh-key
# parser, the login and multipart form parsing. Each target runs SECONDS from the seeds in bench/fuzz-seeds plus
# the corpus earlier runs grew (.build-fuzz/corpus); what each target checks is in Sources/LivebootFuzz.
# A crash (a broken property traps) is saved under .build-fuzz/crashes/TARGET/ and ends the run with status 1;
# replay one with the plain build: `swift run liveboot-fuzz TARGET FILE`, then add it to bench/fuzz-seeds/TARGET/
# so that FuzzSeedTests keeps it.
# Usage: bench/fuzz.sh [SECONDS=60] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(vmedia-request range-conditional ssh-key form)
scratch=.build-fuzz
# lld: gold fails on the sanitized objects ("internal error in format_file_lineno").
swift build --product liveboot-fuzz --scratch-path "$scratch" -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING \
  -Xswiftc -use-ld=lld >/dev/null
bin=$(swift build --scratch-path "$scratch" --show-bin-path)/liveboot-fuzz
status=0
printf '%-18s %8s %12s %10s %8s  %s\n' target seconds runs runs/s cov result
for target in "${targets[@]}"; do
  corpus=$scratch/corpus/$target crashes=$scratch/crashes/$target log=$scratch/fuzz-$target.log
  mkdir -p "$corpus" "$crashes"
  dict=(); [ -f "bench/fuzz-seeds/$target.dict" ] && dict=(-dict="bench/fuzz-seeds/$target.dict")
  set +e
  LIVEBOOT_FUZZ_TARGET=$target "$bin" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$crashes/" "${dict[@]}" "$corpus" "bench/fuzz-seeds/$target" > "$log" 2>&1
  rc=$?
  set -e
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  if [ "$rc" -eq 0 ]; then result="no crash"; else
    result="CRASH: $(ls -t "$crashes" | head -1) — $(grep -m1 -E 'Fatal error|Precondition failed|ERROR: AddressSanitizer|ERROR: libFuzzer' "$log" | cut -c1-160)"
    status=1
  fi
  rate=$(( ${runs:-0} / (${took:-$seconds} > 0 ? ${took:-$seconds} : 1) ))
  printf '%-18s %8s %12s %10s %8s  %s\n' "$target" "${took:-?}" "${runs:-?}" "$rate" "${cov:-?}" "$result"
done
exit $status
