#!/bin/sh
# Records real OpenSSH sessions for the tests: sshd and ssh (the Debian 12
# packages) talk over loopback inside a private network and mount namespace
# (nothing leaves it; /run is a tmpfs there so sshd gets its privsep dir),
# with throwaway host and user keys. Writes:
#   pcap/openssh-loopback.pcap    the capture (tcpdump on lo, port 2222)
#   tshark/openssh-loopback.tsv   tshark's dissection (as gen-shared.sh)
#   openssh-loopback.kex          one line per connection, in order: what
#                                 the ssh client logged it negotiated (-vv)
# Run as root from this testdata directory: ./gen-openssh.sh
set -eu
cd "$(dirname "$0")"
out=$(pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ssh-keygen -q -t ed25519 -N '' -f "$tmp/host_ed25519"
ssh-keygen -q -t rsa -b 3072 -N '' -f "$tmp/host_rsa"
ssh-keygen -q -t ecdsa -b 384 -N '' -f "$tmp/host_ecdsa"
ssh-keygen -q -t ed25519 -N '' -f "$tmp/user"
cp "$tmp/user.pub" "$tmp/authorized_keys"
cat >"$tmp/sshd_config" <<CFG
Port 2222
ListenAddress 127.0.0.1
HostKey $tmp/host_ed25519
HostKey $tmp/host_rsa
HostKey $tmp/host_ecdsa
PidFile $tmp/sshd.pid
AuthorizedKeysFile $tmp/authorized_keys
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
LogLevel ERROR
CFG

# Each line: client options for one connection.
cat >"$tmp/clients" <<'CLI'

-o KexAlgorithms=diffie-hellman-group-exchange-sha256 -o Ciphers=aes128-ctr -o MACs=hmac-sha2-256 -o HostKeyAlgorithms=rsa-sha2-512
-o KexAlgorithms=sntrup761x25519-sha512@openssh.com -o Ciphers=aes256-gcm@openssh.com
-o KexAlgorithms=ecdh-sha2-nistp384 -o HostKeyAlgorithms=ecdsa-sha2-nistp384 -o Ciphers=aes192-ctr -o MACs=umac-128-etm@openssh.com -o Compression=yes
-o KexAlgorithms=diffie-hellman-group14-sha256 -o HostKeyAlgorithms=rsa-sha2-256 -o Ciphers=chacha20-poly1305@openssh.com
CLI

unshare --net --mount sh -eu -c '
	tmp=$1 out=$2
	ip link set lo up
	mount -t tmpfs none /run
	mkdir -m 755 /run/sshd
	tcpdump -q -i lo -s 0 -U -w "$tmp/cap.pcap" tcp port 2222 2>/dev/null &
	dump=$!
	/usr/sbin/sshd -f "$tmp/sshd_config"
	sleep 1
	: >"$tmp/kex"
	while IFS= read -r opts; do
		ssh -n -vv -p 2222 -i "$tmp/user" -o BatchMode=yes -o StrictHostKeyChecking=no \
			-o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes $opts root@127.0.0.1 true \
			2>"$tmp/log" || { cat "$tmp/log" >&2; exit 1; }
		grep -o "kex: algorithm: .*\|kex: host key algorithm: .*\|kex: [a-z]*->[a-z]* cipher: .*" "$tmp/log" |
			tr "\n" "|" >>"$tmp/kex"
		echo >>"$tmp/kex"
	done <"$tmp/clients"
	sleep 1
	kill "$(cat "$tmp/sshd.pid")" "$dump"
	wait "$dump" || true
' sh "$tmp" "$out"

cp "$tmp/cap.pcap" pcap/openssh-loopback.pcap
cp "$tmp/kex" openssh-loopback.kex
./dissect.sh pcap/openssh-loopback.pcap -d tcp.port==2222,ssh >tshark/openssh-loopback.tsv
