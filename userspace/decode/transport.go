package decode

import (
	"encoding/binary"

	"github.com/flowjoy/flowjoy/userspace/flowkey"
)

// ICMP message types that carry an echo identifier.
const (
	icmpEchoReply     = 0
	icmpEcho          = 8
	icmpv6EchoRequest = 128
	icmpv6EchoReply   = 129
)

// transport reads the header after IP. l4 is the captured bytes (already
// cut to the IP length, so len(l4) <= l4Len) and l4Len the length the IP
// header gives them.
//
// The rules, per protocol:
//   - TCP, UDP, UDP-Lite, SCTP, DCCP: the ports are set as soon as their
//     4 bytes are captured; TransportOK once the fixed header is captured
//     and its length fields are possible (TCP options may be cut short:
//     TCPOptions then holds the captured part).
//   - PayloadLen is l4Len minus the header length; for UDP it is the UDP
//     length - 8 when that fits in l4Len (or, in the first fragment of a
//     fragmented datagram, exceeds it: the whole datagram is counted
//     there), else l4Len - 8 (UDP length 0 of jumbograms and GSO, or a
//     bogus one).
//   - ICMP/ICMPv6: 8 header bytes (type, code, checksum, 4 more).
//   - Any other protocol: no transport header; the IP payload is the
//     payload.
//
// When the transport header is not usable PayloadLen and Payload stay
// zero: the header length is unknown, so is the payload.
func (d *Decoder) transport(l4 []byte, l4Len uint32, out *Packet, depth int) error {
	k := &out.Key
	switch k.Proto {
	case flowkey.ProtoTCP:
		tcp(l4, l4Len, out)
	case flowkey.ProtoUDP:
		udp(l4, l4Len, out)
		if out.TransportOK {
			return d.udpTunnel(out, depth)
		}
	case flowkey.ProtoUDPLite:
		// The UDP-Lite length field is the checksum coverage, not a length.
		fixedHeader(l4, l4Len, 8, out)
	case flowkey.ProtoSCTP:
		fixedHeader(l4, l4Len, 12, out)
	case flowkey.ProtoDCCP:
		dccp(l4, l4Len, out)
	case flowkey.ProtoICMP, flowkey.ProtoICMPv6:
		icmp(l4, l4Len, out)
	default:
		out.PayloadLen, out.Payload = l4Len, l4
		switch k.Proto {
		case protoIPIP, protoIPv6, protoGRE:
			return d.ipTunnel(l4, out, depth)
		}
	}
	return nil
}

// ports sets the ports from the first 4 bytes of a port-keyed header.
func ports(l4 []byte, out *Packet) bool {
	if len(l4) < 4 {
		return false
	}
	out.Key.SrcPort = binary.BigEndian.Uint16(l4)
	out.Key.DstPort = binary.BigEndian.Uint16(l4[2:])
	return true
}

// setPayload records a transport header of hl bytes as read.
func setPayload(l4 []byte, l4Len uint32, hl int, out *Packet) {
	out.TransportOK = true
	out.PayloadLen = l4Len - uint32(hl)
	if hl < len(l4) {
		out.Payload = l4[hl:]
	}
}

func tcp(l4 []byte, l4Len uint32, out *Packet) {
	if !ports(l4, out) || len(l4) < 20 {
		return
	}
	hl := int(l4[12]>>4) * 4
	if hl < 20 || uint32(hl) > l4Len {
		return // impossible data offset: nothing past the ports is trusted
	}
	out.Seq = binary.BigEndian.Uint32(l4[4:])
	out.Ack = binary.BigEndian.Uint32(l4[8:])
	out.TCPFlags = l4[13]
	out.Window = binary.BigEndian.Uint16(l4[14:])
	if hl > 20 {
		out.TCPOptions = l4[20:min(hl, len(l4))]
	}
	setPayload(l4, l4Len, hl, out)
}

func udp(l4 []byte, l4Len uint32, out *Packet) {
	if !ports(l4, out) || len(l4) < 8 {
		return
	}
	udpLen := uint32(binary.BigEndian.Uint16(l4[4:]))
	firstFragment := out.MoreFragments // offset 0: later fragments never get here
	out.TransportOK = true
	switch {
	case udpLen >= 8 && (udpLen <= l4Len || firstFragment):
		out.PayloadLen = udpLen - 8
	default:
		out.PayloadLen = l4Len - 8
	}
	if len(l4) > 8 {
		out.Payload = l4[8:min(len(l4), 8+int(out.PayloadLen))]
	}
}

// fixedHeader reads a port-keyed header of a fixed hl bytes.
func fixedHeader(l4 []byte, l4Len uint32, hl int, out *Packet) {
	if !ports(l4, out) || len(l4) < hl {
		return
	}
	setPayload(l4, l4Len, hl, out)
}

// dccp reads a DCCP generic header (RFC 4340): 12 bytes, 16 with the
// extended sequence number (X bit); Data Offset covers the options too.
func dccp(l4 []byte, l4Len uint32, out *Packet) {
	if !ports(l4, out) || len(l4) < 12 {
		return
	}
	hl := int(l4[4]) * 4
	minLen := 12
	if l4[8]&0x01 != 0 {
		minLen = 16
	}
	if hl < minLen || uint32(hl) > l4Len || len(l4) < minLen {
		return
	}
	setPayload(l4, l4Len, hl, out)
}

func icmp(l4 []byte, l4Len uint32, out *Packet) {
	if len(l4) < 8 {
		return
	}
	out.ICMPType, out.ICMPCode = l4[0], l4[1]
	v4 := out.Key.Proto == flowkey.ProtoICMP
	t := out.ICMPType
	if v4 && (t == icmpEcho || t == icmpEchoReply) || !v4 && (t == icmpv6EchoRequest || t == icmpv6EchoReply) {
		out.ICMPID = binary.BigEndian.Uint16(l4[4:])
	}
	setPayload(l4, l4Len, 8, out)
}
