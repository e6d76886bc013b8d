#!/usr/bin/env bash
# `make demo`: runs flowjoy's live eBPF engine on a throwaway pair of
# network namespaces (scripts/testnet.sh) while real HTTP, TLS, DNS and
# ICMP traffic and a 2 MB download cross it, then stops it with SIGTERM,
# which writes every flow. The JSON goes to stdout, the rest to stderr.
# Needs root; leaves nothing behind, also when interrupted. FLOWJOY names
# the binary (default bin/flowjoy, which `make demo` builds).
set -euo pipefail
cd "$(dirname "$0")/.."
flowjoy=$(realpath "${FLOWJOY:-bin/flowjoy}")
[ "$(id -u)" = 0 ] || { echo "make demo needs root for network namespaces and eBPF: sudo make demo" >&2; exit 1; }
name=fjdemo$$
tmp=$(mktemp -d)
fj_pid=
cleanup() {
  if [ -n "$fj_pid" ] && kill -0 "$fj_pid" 2>/dev/null; then
    kill -TERM "$fj_pid" 2>/dev/null || true
    wait "$fj_pid" 2>/dev/null || true
  fi
  scripts/testnet.sh down "$name" || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== making namespaces $name-c and $name-s with HTTP, TLS and DNS servers" >&2
scripts/testnet.sh up "$name"
iface=${name:0:11}c

# nsenter, not `ip netns exec`: the latter gives its command a /sys
# without the cgroup mount, and process attribution needs it.
echo "== nsenter --net=/run/netns/$name-c flowjoy -i $iface --engine ebpf" >&2
nsenter --net="/run/netns/$name-c" "$flowjoy" -i "$iface" --engine ebpf >"$tmp/flows.json" 2>"$tmp/flowjoy.err" &
fj_pid=$!
for _ in $(seq 100); do
  grep -q "capturing on" "$tmp/flowjoy.err" && break
  kill -0 "$fj_pid" 2>/dev/null || { cat "$tmp/flowjoy.err" >&2; fj_pid=; exit 1; }
  sleep 0.1
done
grep -q "capturing on" "$tmp/flowjoy.err" || { echo "flowjoy did not start:" >&2; cat "$tmp/flowjoy.err" >&2; exit 1; }
cat "$tmp/flowjoy.err" >&2

echo "== traffic: curl (HTTP, HTTPS), openssl s_client (TLS 1.3), dig (DNS), ping, a 2 MB download" >&2
scripts/testnet.sh traffic "$name"
head -c 2097152 /dev/urandom >"/tmp/flowjoy-testnet-$name/www/bulk.bin"
ip netns exec "$name-c" curl -s -o /dev/null http://10.77.0.2:8080/bulk.bin
sleep 0.5

echo "== SIGTERM: flowjoy writes every flow and detaches" >&2
kill -TERM "$fj_pid"
wait "$fj_pid" || { echo "flowjoy failed:" >&2; cat "$tmp/flowjoy.err" >&2; exit 1; }
fj_pid=
tail -n 1 "$tmp/flowjoy.err" >&2
cat "$tmp/flows.json"
