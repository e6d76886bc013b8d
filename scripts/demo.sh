#!/usr/bin/env bash
# `make demo`: records real HTTP, TLS, DNS and ICMP traffic between two
# throwaway network namespaces, then runs flowjoy on the capture and prints
# its JSON. Needs root (namespaces); leaves nothing behind.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "make demo needs root for network namespaces: sudo make demo" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
name=fjdemo$$
echo "== recording traffic between namespaces $name-c and $name-s" >&2
scripts/testnet.sh capture "$name" "$tmp/demo.pcap"
echo "== flowjoy -r demo.pcap" >&2
bin/flowjoy -r "$tmp/demo.pcap"
