#!/usr/bin/env bash
# A throwaway two-host network for the demo and the end-to-end tests:
# namespaces NAME-c (client, 10.77.0.1, fd77::1) and NAME-s (server,
# 10.77.0.2, fd77::2) joined by a veth pair with offloads off, so every
# packet on the wire is one packet in a capture. Traffic stays inside.
#
#   testnet.sh up NAME          create the hosts, start HTTP, TLS and DNS servers
#   testnet.sh traffic NAME     run the client workload (curl, openssl, dig, ping)
#   testnet.sh down NAME        stop everything and delete the namespaces
#   testnet.sh capture NAME F   up, record the workload into pcap F, down
set -euo pipefail

cmd=${1:?usage: testnet.sh up|traffic|down|capture NAME [FILE]}
name=${2:?name}
C=$name-c S=$name-s
VC=${name:0:11}c VS=${name:0:11}s   # interface names have 15 characters at most
dir=/tmp/flowjoy-testnet-$name

up() {
  mkdir -p "$dir"
  ip netns add "$C"
  ip netns add "$S"
  ip link add "$VC" netns "$C" type veth peer name "$VS" netns "$S"
  ip -n "$C" addr add 10.77.0.1/24 dev "$VC"
  ip -n "$S" addr add 10.77.0.2/24 dev "$VS"
  ip -n "$C" addr add fd77::1/64 dev "$VC" nodad
  ip -n "$S" addr add fd77::2/64 dev "$VS" nodad
  for ns in "$C" "$S"; do ip -n "$ns" link set lo up; done
  ip -n "$C" link set "$VC" up
  ip -n "$S" link set "$VS" up
  ip netns exec "$C" ethtool -K "$VC" tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
  ip netns exec "$S" ethtool -K "$VS" tso off gso off gro off tx off rx off >/dev/null 2>&1 || true

  # A CA, and a server certificate it signed, so the server sends a chain.
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=flowjoy test CA" \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=demo.test" -keyout "$dir/srv.key" -out "$dir/srv.csr" 2>/dev/null
  printf 'subjectAltName=DNS:demo.test,DNS:www.demo.test,IP:10.77.0.2\n' >"$dir/san.ext"
  openssl x509 -req -in "$dir/srv.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 2 -extfile "$dir/san.ext" -out "$dir/srv.pem" 2>/dev/null
  cat "$dir/srv.pem" "$dir/ca.pem" >"$dir/chain.pem"

  mkdir -p "$dir/www" && echo "hello from flowjoy's test server" >"$dir/www/index.html"
  ip netns exec "$S" bash -c "cd '$dir/www' && exec python3 -m http.server 8080 --bind 10.77.0.2" >/dev/null 2>&1 &
  echo $! >"$dir/http.pid"
  ip netns exec "$S" openssl s_server -quiet -accept 443 -www -cert "$dir/srv.pem" -key "$dir/srv.key" \
    -cert_chain "$dir/ca.pem" >/dev/null 2>&1 &
  echo $! >"$dir/tls.pid"
  ip netns exec "$S" dnsmasq --no-daemon --no-resolv --no-hosts --bind-interfaces --listen-address=10.77.0.2 \
    --port=53 --pid-file="$dir/dnsmasq.pid" \
    --address=/demo.test/10.77.0.2 --address=/demo.test/fd77::2 --cname=www.demo.test,demo.test \
    --txt-record=demo.test,"flowjoy demo" --mx-host=demo.test,mail.demo.test,10 \
    --srv-host=_http._tcp.demo.test,demo.test,8080 >/dev/null 2>&1 &
  echo $! >"$dir/dns.pid"
  # Wait until the servers answer.
  for _ in $(seq 50); do
    ip netns exec "$C" bash -c 'exec 3<>/dev/tcp/10.77.0.2/8080 && exec 4<>/dev/tcp/10.77.0.2/443' 2>/dev/null && break
    sleep 0.1
  done
}

traffic() {
  local x="ip netns exec $C"
  $x curl -s -o /dev/null http://10.77.0.2:8080/
  $x curl -s -o /dev/null -H 'User-Agent: flowjoy-demo' http://10.77.0.2:8080/missing
  $x curl -s -o /dev/null --cacert "$dir/ca.pem" --resolve demo.test:443:10.77.0.2 --http1.1 https://demo.test/
  $x curl -s -o /dev/null --cacert "$dir/ca.pem" --resolve demo.test:443:10.77.0.2 --tlsv1.2 --tls-max 1.2 https://demo.test/
  echo | $x openssl s_client -connect 10.77.0.2:443 -servername www.demo.test -tls1_3 -alpn h2,http/1.1 >/dev/null 2>&1 || true
  $x dig +short +tries=1 +time=2 @10.77.0.2 demo.test A >/dev/null
  $x dig +short +tries=1 +time=2 @10.77.0.2 demo.test AAAA >/dev/null
  $x dig +short +tries=1 +time=2 @10.77.0.2 www.demo.test A >/dev/null
  $x dig +short +tries=1 +time=2 @10.77.0.2 demo.test TXT >/dev/null
  $x dig +short +tries=1 +time=2 @10.77.0.2 demo.test MX +tcp >/dev/null
  $x dig +short +tries=1 +time=2 @10.77.0.2 nothing.invalid A >/dev/null || true
  $x ping -c 2 -i 0.2 -q 10.77.0.2 >/dev/null
  $x ping -6 -c 2 -i 0.2 -q fd77::2 >/dev/null
}

down() {
  for p in http tls dns; do
    [ -f "$dir/$p.pid" ] && kill "$(cat "$dir/$p.pid")" 2>/dev/null || true
  done
  [ -f "$dir/dnsmasq.pid" ] && kill "$(cat "$dir/dnsmasq.pid")" 2>/dev/null || true
  ip netns del "$C" 2>/dev/null || true
  ip netns del "$S" 2>/dev/null || true
  rm -rf "$dir"
}

case "$cmd" in
  up) up ;;
  traffic) traffic ;;
  down) down ;;
  capture)
    out=${3:?capture needs an output file}
    trap down EXIT
    up
    # --immediate-mode: without it packets still in the kernel's ring when
    # tcpdump stops are counted but never written.
    ip netns exec "$C" tcpdump -i "$VC" -s 0 -U --immediate-mode -w "$out" 2>/dev/null &
    tcpdump_pid=$!
    sleep 0.5
    traffic
    sleep 0.5
    kill -INT $tcpdump_pid; wait $tcpdump_pid 2>/dev/null || true
    ;;
  *) echo "testnet.sh: unknown command $cmd" >&2; exit 2 ;;
esac
