#!/bin/sh
# Regenerates testdata/pcap/*.follow: the reassembled TCP streams of each
# capture as tshark sees them ("Follow TCP Stream", raw), the independent
# reference that TestReplayCaptures compares against.
#
# Each output line is "SRC DST HEX" (a chunk of the stream from SRC to DST,
# in stream order) or "SRC DST GAP" where tshark reports bytes missing in
# the capture. Written with tshark 4.0.
set -eu
cd "$(dirname "$0")/pcap"
for p in *.pcap; do
	out="${p%.pcap}.follow"
	echo "# $p, tshark -z follow,tcp,raw; $(tshark --version 2>/dev/null | head -1)" >"$out"
	for s in $(tshark -r "$p" -Y tcp -T fields -e tcp.stream 2>/dev/null | sort -un); do
		tshark -r "$p" -q -z "follow,tcp,raw,$s" 2>/dev/null | awk '
			/^Node 0: / { n0 = $3; next }
			/^Node 1: / { n1 = $3; next }
			/^(=+|Follow:|Filter:)/ || $0 == "" { next }
			{
				src = n0; dst = n1; hex = $0
				if (substr(hex, 1, 1) == "\t") { src = n1; dst = n0; hex = substr(hex, 2) }
				# "[N bytes missing in capture file]\0"
				if (hex ~ /^5b[0-9a-f]*206279746573206d697373696e6720696e20636170747572652066696c655d00$/) hex = "GAP"
				print src, dst, hex
			}' >>"$out"
	done
done
