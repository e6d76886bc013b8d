#!/bin/sh
# dissect.sh CAPTURE [tshark options]: prints tshark's dissection of the
# SSH frames of CAPTURE as the TSV the tests read (fields: tshark-fields;
# lists of several values joined with '|').
set -eu
cap=$1
shift
fields=$(cat "$(dirname "$0")/tshark-fields")
args=""
for f in $fields; do args="$args -e $f"; done
echo $fields | tr ' ' '\t'
tshark -r "$cap" "$@" -Y ssh -T fields $args \
	-E separator=/t -E occurrence=a -E aggregator='|' -E quote=n 2>/dev/null
