// Package decode reads the headers of one captured packet: link layer,
// VLAN tags, tunnels, IP, and the transport header, into a Packet that the
// flow table consumes. It is stateless and allocates nothing.
package decode

import "github.com/flowjoy/flowjoy/userspace/flowkey"

// Tunnel names the encapsulation the flow's packets were carried in.
type Tunnel uint8

const (
	TunnelNone Tunnel = iota
	TunnelGRE
	TunnelVXLAN
	TunnelGeneve
	TunnelIPIP   // IPv4 in IPv4 (proto 4) or IPv6 in IPv4 (6in4, proto 41) or any IP-in-IPv6
	TunnelERSPAN // GRE-carried ERSPAN type II/III
)

// String returns the name used in the record's "tunnel" object.
func (t Tunnel) String() string {
	switch t {
	case TunnelGRE:
		return "gre"
	case TunnelVXLAN:
		return "vxlan"
	case TunnelGeneve:
		return "geneve"
	case TunnelIPIP:
		return "ipip"
	case TunnelERSPAN:
		return "erspan"
	}
	return ""
}

// Packet is what the decoder learned about one packet. Slices point into
// the captured data and share its lifetime.
type Packet struct {
	// Key is the flow tuple with Src = this packet's sender. For
	// non-first IPv4/IPv6 fragments the ports are unknown (0) and
	// Fragment says so: the flow table resolves them.
	Key flowkey.Key

	// Tunnel is the outermost encapsulation that was removed (TunnelNone
	// when the packet was not tunnelled, or decapsulation was off), and
	// TunnelKey the outer tuple it was carried in (Proto = outer protocol).
	Tunnel    Tunnel
	TunnelKey flowkey.Key
	// TunnelID is the VXLAN (and VXLAN-GPE) VNI / Geneve VNI / GRE key /
	// PPTP call id / ERSPAN session id when present.
	TunnelID uint32

	// IP is the captured bytes from the (inner, when decapsulated) IP
	// header to the end of the packet, cut to IPLen: Joy's "idp" (initial
	// data packet) reports a prefix of it.
	IP []byte

	// IP header facts.
	TTL   uint8  // IPv4 TTL or IPv6 hop limit
	IPID  uint32 // IPv4 identification; IPv6 fragment header id when present
	IPLen uint32 // IP packet length from the header (IPv4 total length; IPv6 40 + payload length)
	// IPOptionsLen is the length of IPv4 options / IPv6 extension headers.
	IPOptionsLen uint16

	// Fragmentation: Fragment is true for every fragment of a fragmented
	// datagram; FragOffset is in bytes; MoreFragments is the MF bit.
	Fragment      bool
	FragOffset    uint16
	MoreFragments bool

	// TCP header facts (valid when Key.Proto is TCP and TransportOK).
	TCPFlags   uint8
	Seq, Ack   uint32
	Window     uint16
	TCPOptions []byte // raw options bytes as captured

	// ICMP/ICMPv6 facts (valid when Key.Proto is ICMP/ICMPv6).
	ICMPType, ICMPCode uint8
	ICMPID             uint16 // echo identifier, 0 for other types

	// TransportOK says the fixed transport header (TCP 20 bytes, UDP and
	// UDP-Lite 8, SCTP 12, DCCP 12/16, ICMP 8) was captured and its length
	// fields are possible; TCP options may still be cut short. When false
	// (truncated capture, non-first fragment, protocol without a header we
	// read, impossible header length) the packet still counts for its flow
	// by addresses and protocol, and by ports when their 4 bytes were
	// captured.
	TransportOK bool
	// PayloadLen is the transport payload length on the wire, from the
	// length fields (IP length minus headers; for UDP the UDP length - 8).
	// For a fragment other than the first it is 0: a datagram's payload is
	// counted once, with its first fragment (for UDP the UDP length covers
	// the whole datagram; for TCP only the first fragment's part is
	// known). For protocols without a header we read it is the IP
	// payload length. 0 when TransportOK is false for a protocol with a
	// header (its length is unknown).
	PayloadLen uint32
	// Payload is the captured part of the transport payload (at most
	// PayloadLen bytes; fewer when the capture was cut short).
	Payload []byte
}

// TCP flag bits in Packet.TCPFlags.
const (
	TCPFin = 0x01
	TCPSyn = 0x02
	TCPRst = 0x04
	TCPPsh = 0x08
	TCPAck = 0x10
	TCPUrg = 0x20
	TCPEce = 0x40
	TCPCwr = 0x80
)
