#!/bin/sh
# Regenerates testdata/pcap and testdata/tshark from the shared public
# captures: the DHCP/DHCPv6 frames of each (UDP ports 67/68, 546/547; big
# captures cut to their first frames), and tshark 4.0's dissection of each
# frame as TSV (fields-v4, fields-v6; several values joined with '|').
# Run from this testdata directory: ./gen.sh /work/shared/pcaps
set -eu
src=${1:?usage: gen.sh PCAPS_DIR}
cd "$(dirname "$0")"

# name<TAB>source path<TAB>frames to keep (tshark display filter)
list='joy-dhcp	joy/dhcp.pcap	
joy-firefox58	joy/firefox58.pcap	
ja4-dhcp	ja4/dhcp.pcapng	
ja4-dhcpv6	ja4/dhcpv6.pcap	
tcpdump-bootp-asan	tcpdump/bootp_asan.pcap	
tcpdump-bootp-asan-2	tcpdump/bootp_asan-2.pcap	
tcpdump-dhcp-mud	tcpdump/dhcp-mud.pcap	
tcpdump-dhcp-option-108	tcpdump/dhcp-option-108.pcapng	
tcpdump-dhcp-option-33	tcpdump/dhcp-option-33.pcap	
tcpdump-dhcp-rfc3004	tcpdump/dhcp-rfc3004.pcap	
tcpdump-dhcp-rfc4388	tcpdump/dhcp-rfc4388.pcap	
tcpdump-dhcp-rfc5859	tcpdump/dhcp-rfc5859.pcap	
tcpdump-dhcp6-reconf-asan	tcpdump/dhcp6_reconf_asan.pcap	
tcpdump-dhcpv4v6-rfc5970-rfc8572	tcpdump/dhcpv4v6-rfc5970-rfc8572.pcap	
tcpdump-dhcpv6-aftr-name	tcpdump/dhcpv6-AFTR-Name-RFC6334.pcap	
tcpdump-dhcpv6-domain-list	tcpdump/dhcpv6-domain-list.pcap	
tcpdump-dhcpv6-ia-na	tcpdump/dhcpv6-ia-na.pcap	
tcpdump-dhcpv6-ia-pd	tcpdump/dhcpv6-ia-pd.pcap	
tcpdump-dhcpv6-ia-ta	tcpdump/dhcpv6-ia-ta.pcap	
tcpdump-dhcpv6-mud	tcpdump/dhcpv6-mud.pcap	
tcpdump-dhcpv6-ntp-server	tcpdump/dhcpv6-ntp-server.pcap	
tcpdump-dhcpv6-duid-uuid	tcpdump/dhcpv6-rfc6355-duid-uuid.pcap	
tcpdump-dhcpv6-duid-type2	tcpdump/dhcpv6-rfc8415-duid-type2.pcap	
tcpdump-dhcpv6-sip-server-d	tcpdump/dhcpv6-sip-server-d.pcap	
tcpdump-dhcpv6-vendor-specific	tcpdump/dhcpv6-vendor-specific-information.pcap	
tcpdump-ip6-snmp-oid-unsigned	tcpdump/ip6-snmp-oid-unsigned.pcap	
zeek-dhcp	zeek/dhcp/dhcp.pcap	
zeek-dhcp-unique-xid	zeek/dhcp/dhcp-unique-xid-join-data-growth.pcapng	
zeek-dhcp-ack-subscriber-id	zeek/dhcp/dhcp_ack_subscriber_id_and_agent_remote_id.pcap	
zeek-dhcp-bad-cookie	zeek/dhcp/dhcp_bad_cookie_option_retention.pcap	
zeek-dhcp-discover-param-req	zeek/dhcp/dhcp_discover_param_req_and_client_id.pcap	
zeek-dhcp-flood	zeek/dhcp/dhcp_flood.pcap	frame.number <= 40
zeek-dhcp-inform	zeek/dhcp/dhcp_inform.pcap	
zeek-dhcp-time-and-nameserver	zeek/dhcp/dhcp_time_and_nameserver.pcap	
zeek-hw-type0	zeek/dhcp/hw-type0.pcap	'

ports='udp.port in {67, 68, 546, 547}'
echo "$list" | while IFS='	' read -r name path keep; do
	filter="$ports"
	[ -n "$keep" ] && filter="$filter && $keep"
	tshark -r "$src/$path" -Y "$filter" -F pcap -w "pcap/$name.pcap" 2>/dev/null
	for v in v4 v6; do
		proto=dhcp
		[ $v = v6 ] && proto=dhcpv6
		fields=$(cat fields-$v)
		args=""
		for f in $fields; do args="$args -e $f"; done
		{
			echo $fields | tr ' ' '\t'
			tshark -r "pcap/$name.pcap" -Y "$proto" -T fields $args \
				-E separator=/t -E occurrence=a -E aggregator='|' -E quote=n 2>/dev/null
		} >"tshark/$name.$v.tsv"
		# Keep only files with at least one frame.
		[ "$(wc -l <"tshark/$name.$v.tsv")" -gt 1 ] || rm "tshark/$name.$v.tsv"
	done
done
