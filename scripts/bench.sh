#!/usr/bin/env bash
# `make bench [CAPTURE=file]`: packets/s, MB/s and allocations per packet of
# the basic and all feature sets, and their ratio to a read-only pass over
# the same file in the same run. Without CAPTURE it makes a deterministic
# capture of 1 M packets in 100 k flows.
set -euo pipefail
cd "$(dirname "$0")/.."
capture=${1:-}
if [ -z "$capture" ]; then
  capture=${TMPDIR:-/tmp}/flowjoy-bench-100k.pcap
  [ -s "$capture" ] || go run ./tests/mkcapture -flows 100000 -o "$capture"
fi
echo "capture: $capture ($(du -h "$capture" | cut -f1))"
out=$(FLOWJOY_BENCH_CAPTURE=$capture go test ./tests/ -run '^$' -bench '^Benchmark(ReadOnly|Basic|All)$' -benchtime 3x -count 1)
echo "$out" | grep -E '^Benchmark'
echo "$out" | awk '
  /^Benchmark/ {
    name=$1; sub(/-[0-9]+$/, "", name); sub(/^Benchmark/, "", name)
    for (i = 2; i < NF; i++) { if ($(i+1) == "pkts/s") pps[name]=$i; if ($(i+1) == "allocs/pkt") apk[name]=$i }
    n[name]=1
  }
  END {
    if (!("ReadOnly" in pps)) exit 1
    for (s in n) if (s != "ReadOnly")
      printf "%-8s %12.0f pkts/s  %5.2fx the read-only pass  %.3f allocs/packet\n", s, pps[s], pps[s]/pps["ReadOnly"], apk[s]
  }'
