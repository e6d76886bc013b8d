#!/bin/sh
# Regenerates testdata/pcap/*.pcap and testdata/tshark/*.tsv from the shared
# public captures: each capture is cut to the frames of each TCP stream up
# to its last cleartext SSH frame (the handshake; what follows is
# encrypted), then tshark dissects the cut capture into the TSV the tests
# compare against. Run from this testdata directory:
#   ./gen-shared.sh /work/shared/pcaps
set -eu
src=${1:?usage: gen-shared.sh PCAPS_DIR}
cd "$(dirname "$0")"

# name<TAB>source path<TAB>extra tshark options (decode-as)
list='joy-ssh-gex-sha256	joy/ssh-gex-sha256.pcap	
joy-ssh-dropbear-default	joy/ssh-dropbear-default.pcap	
joy-kali-normal-ssh	joy/kali-normal-ssh.pcap	
joy-kali-password-attack-hydra	joy/kali-password-attack_hydra.pcap	
tcpdump-ssh	tcpdump/ssh.pcap	
zeek-reverse-ssh	zeek/ssh/reverse-ssh.pcap	
zeek-server-pre-banner-data	zeek/ssh/server-pre-banner-data.pcap	
zeek-single-conn	zeek/ssh/single-conn.pcap	
zeek-ssh-kex-curve25519	zeek/ssh/ssh_kex_curve25519.pcap	
zeek-ssh-kex-dh-group18	zeek/ssh/ssh_kex_dh_group18.pcap	
zeek-ssh-kex-mlkem	zeek/ssh/ssh_kex_mlkem.pcap	-d tcp.port==2299,ssh
zeek-client-first-enc-with-newkeys	zeek/ssh/ssh_client_sends_first_enc_pkt_with_newkeys.pcap	
zeek-server-first-enc-with-newkeys	zeek/ssh/ssh_server_sends_first_enc_pkt_with_newkeys.pcap	
zeek-ssh-version-199	zeek/ssh/ssh_version_199.pcap	
zeek-ssh1-ssh2-fingerprints	zeek/ssh/ssh1-ssh2-fingerprints.pcap	
zeek-kex-quadratic-1000	zeek/ssh/kex-quadratic-1000.pcap	
zeek-client-side-half-duplex	zeek/ssh/ssh.client-side-half-duplex.pcap	
zeek-sshguess	zeek/ssh/sshguess.pcap	
zeek-ssh-dups	zeek/tcp/ssh-dups.pcap	
zeek-http-to-ssh	zeek/http/http-to-ssh.pcap	
ja4-ssh2-malformed	ja4/ssh2-malformed.pcap	
ja4-ssh-r	ja4/ssh-r.pcap	
ja4-sshv1	ja4/sshv1.pcap	
ja4-ssh	ja4/ssh.pcapng	
mercury-ssh-frag	mercury/pcaps/ssh_frag.pcap	
mercury-ssh-direction-asym	mercury/pcaps/ssh_direction_asym.pcap	'

echo "$list" | while IFS='	' read -r name path opts; do
	in="$src/$path"
	# The last handshake frame of each stream.
	filter=$(tshark -r "$in" $opts -Y 'ssh.message_code || ssh.protocol' \
		-T fields -e tcp.stream -e frame.number 2>/dev/null |
		awk '{last[$1]=$2} END {sep=""; for (s in last) {printf "%s(tcp.stream==%s && frame.number<=%s)", sep, s, last[s]; sep=" || "}}')
	tshark -r "$in" $opts -Y "$filter" -F pcap -w "pcap/$name.pcap" 2>/dev/null
	./dissect.sh "pcap/$name.pcap" $opts >"tshark/$name.tsv"
done
