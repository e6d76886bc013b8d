// Package event defines the one packet event that every capture engine
// (pcap/pcapng files, libpcap live, the eBPF data path) produces and that
// everything after it consumes. Writing the engines against this type is what
// lets the flow table, feature extractors and parsers exist only once.
package event

import "github.com/flowjoy/flowjoy/userspace/flowkey"

// Direction is what the engine knows about where a packet was going when it
// was seen. Files know nothing; TC knows ingress from egress.
type Direction uint8

const (
	DirUnknown Direction = iota
	DirIngress
	DirEgress
)

// LinkType names the framing of Packet.Data. The values are the pcap
// LINKTYPE_* numbers so that file engines can pass them through unchanged.
type LinkType uint16

const (
	LinkNull     LinkType = 0   // BSD loopback: 4-byte host-order family
	LinkEthernet LinkType = 1   // Ethernet II, with optional 802.1Q/802.1ad tags
	LinkPPP      LinkType = 9   // PPP (RFC 1662 framing optional)
	LinkRaw      LinkType = 101 // raw IPv4 or IPv6, version from the first nibble
	LinkLoop     LinkType = 108 // OpenBSD loopback: 4-byte network-order family
	LinkLinuxSLL LinkType = 113 // Linux cooked capture v1
	LinkIPv4     LinkType = 228
	LinkIPv6     LinkType = 229
	LinkSLL2     LinkType = 276 // Linux cooked capture v2
	LinkPPPoE    LinkType = 51  // PPP over Ethernet session (LINKTYPE_PPP_ETHER)
)

// Packet is one captured packet, or one GSO/GRO aggregate standing for
// several wire segments.
//
// Data is only valid until the engine delivers the next packet: consumers
// that keep bytes must copy them. That contract is what lets file engines
// read without copying and the eBPF engine hand out ring-buffer memory.
type Packet struct {
	// Timestamp is wall-clock time in nanoseconds since the Unix epoch.
	Timestamp int64
	// IfIndex is the interface the packet was seen on: the kernel ifindex
	// for live engines, the pcapng interface id for files (0 for pcap).
	IfIndex uint32
	// Direction is a hint from the engine; the flow table decides the flow
	// direction itself (initiator = first SYN sender, else first sender).
	Direction Direction
	// LinkType is the framing of Data.
	LinkType LinkType
	// Segments is how many wire segments this packet stands for: 1 for an
	// ordinary packet, gso_segs for a GSO/GRO aggregate. 0 means 1.
	Segments uint32
	// WireLen is the length of the frame on the wire as the engine knows
	// it (pcap orig_len). Counters never use it: flow bytes come from the
	// IP and transport length fields, which stay right when Data is cut
	// short by a snap length or a kernel sample budget.
	WireLen uint32
	// Data is the captured bytes, starting at the link layer. It may be
	// shorter than the packet.
	Data []byte
	// Local says a socket on this host sent the packet (the eBPF engine
	// sees it on egress); Owner is the process id (tgid) owning that
	// socket, 0 when unknown. Files and libpcap leave both zero.
	Local bool
	Owner uint32
}

// SegmentCount returns Segments with the zero value meaning one packet.
func (p *Packet) SegmentCount() uint32 {
	if p.Segments == 0 {
		return 1
	}
	return p.Segments
}

// Counts reports packets that an engine counted but did not deliver as
// Packets: the kernel data path copies only the first packets of a flow and
// counts the rest in a map, and counts a packet whose sample could not be
// written to the ring buffer. The flow table adds these to the flow exactly
// as it would count the packets themselves, so a Packet and a Counts never
// describe the same packet.
type Counts struct {
	// Key is the flow tuple with Src = the sender of these packets.
	Key flowkey.Key
	// Packets is the number of wire segments.
	Packets uint64
	// Bytes is the transport payload bytes, from the length fields.
	Bytes uint64
	// First and Last are the times (ns since the epoch) of the first and
	// last of these packets.
	First, Last int64
	// TCPFlags is the OR of the TCP flags of these packets.
	TCPFlags uint8
	// Lost is how many of these packets were meant to be sampled but their
	// sample could not be delivered (ring buffer full). The flow record
	// reports it so that missing intraflow data is never silent.
	Lost uint64
}
