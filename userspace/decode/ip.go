package decode

import (
	"encoding/binary"
	"math"
)

// IP protocol numbers of headers the decoder walks or enters.
const (
	protoHopByHop = 0
	protoIPIP     = 4
	protoIPv6     = 41
	protoRouting  = 43
	protoFragment = 44
	protoGRE      = 47
	protoAH       = 51
	protoNoNext   = 59
	protoDestOpts = 60
)

// startIP resets out for a new IP header: a tunnel's inner packet
// replaces everything the outer one set, except the observation point's
// VLAN.
func startIP(out *Packet) {
	vlan := out.Key.VLAN
	*out = Packet{}
	out.Key.VLAN = vlan
}

// ipv4 reads an IPv4 header and what it carries.
//
// Length rules: IPLen is the total length field, except that 0 (what
// Linux shows for TSO/GSO aggregates, and for BIG TCP above 64 KiB)
// means the captured length. The bytes captured past IPLen (Ethernet
// padding, trailers) are not part of the packet. Options cut short by the
// capture leave the transport unread but are not an error: the protocol
// is in the fixed header.
func (d *Decoder) ipv4(b []byte, out *Packet, depth int) error {
	if len(b) < 20 {
		return errShortIPv4
	}
	if b[0]>>4 != 4 {
		return errIPv4Version
	}
	hl := int(b[0]&0x0f) * 4
	if hl < 20 {
		return errIPv4HeaderLen
	}
	total := int(binary.BigEndian.Uint16(b[2:]))
	if total == 0 {
		total = len(b)
	}
	if total < hl {
		return errIPv4TotalLen
	}
	ip := b[:min(len(b), total)]

	startIP(out)
	k := &out.Key
	k.IPVersion = 4
	copy(k.Src[:4], b[12:16])
	copy(k.Dst[:4], b[16:20])
	k.Proto = b[9]
	out.TTL = b[8]
	out.IPID = uint32(binary.BigEndian.Uint16(b[4:]))
	out.IPLen = uint32(total)
	out.IPOptionsLen = uint16(hl - 20)
	out.IP = ip
	frag := binary.BigEndian.Uint16(b[6:])
	out.FragOffset = (frag & 0x1fff) * 8
	out.MoreFragments = frag&0x2000 != 0
	out.Fragment = out.MoreFragments || out.FragOffset != 0
	if out.FragOffset != 0 {
		return nil // no transport header in this fragment
	}

	off := hl
	// IPsec AH is a header between IP and transport in IPv4 as in IPv6;
	// walking it keys the flow by what it authenticates.
	for n := 0; k.Proto == protoAH; n++ {
		if n == maxExtHeaders {
			return errTooManyExt
		}
		if off+2 > len(ip) {
			return errShortAH
		}
		ahLen := (int(ip[off+1]) + 2) * 4
		if off+ahLen > total {
			return errAHLen
		}
		k.Proto = ip[off]
		off += ahLen
	}
	out.IPOptionsLen = uint16(off - 20)
	if off > len(ip) {
		return nil // options cut short by the capture
	}
	return d.transport(ip[off:], uint32(total-off), out, depth)
}

// ipv6 reads an IPv6 header, its extension headers, and what it carries.
//
// Length rules: IPLen is 40 + the payload length field. A payload length
// of 0 with a next header other than No Next Header is a jumbogram (the
// hop-by-hop Jumbo Payload option gives the length) or, without that
// option, a TSO/GSO/BIG TCP aggregate whose length is the captured
// length. Extension headers are walked up to the upper-layer header or a
// fragment header of a non-first fragment.
func (d *Decoder) ipv6(b []byte, out *Packet, depth int) error {
	if len(b) < 40 {
		return errShortIPv6
	}
	if b[0]>>4 != 6 {
		return errIPv6Version
	}
	next := b[6]
	total := 40 + int(binary.BigEndian.Uint16(b[4:]))
	if total == 40 && next != protoNoNext {
		jumbo, ok := jumboLength(b)
		switch {
		case !ok:
			total = len(b)
		case jumbo > math.MaxUint32-40 || jumbo < 65536:
			return errIPv6JumboLen
		default:
			total = 40 + int(jumbo)
		}
	}
	ip := b[:min(len(b), total)]

	startIP(out)
	k := &out.Key
	k.IPVersion = 6
	copy(k.Src[:], b[8:24])
	copy(k.Dst[:], b[24:40])
	out.TTL = b[7]
	out.IPLen = uint32(total)
	out.IP = ip

	off := 40
	for n := 0; isExtHeader(next); n++ {
		if n == maxExtHeaders {
			return errTooManyExt
		}
		if off+2 > len(ip) {
			return errShortIPv6Ext
		}
		var hlen int
		switch next {
		case protoFragment:
			hlen = 8
		case protoAH:
			hlen = (int(ip[off+1]) + 2) * 4
		default:
			hlen = (int(ip[off+1]) + 1) * 8
		}
		if off+hlen > total {
			return errIPv6ExtLen
		}
		if next == protoFragment {
			if off+8 > len(ip) {
				return errShortIPv6Ext
			}
			fo := binary.BigEndian.Uint16(ip[off+2:])
			out.FragOffset = fo &^ 0x0007 // 13-bit offset in 8-byte units, shifted left 3
			out.MoreFragments = fo&0x0001 != 0
			out.Fragment = out.MoreFragments || out.FragOffset != 0
			out.IPID = binary.BigEndian.Uint32(ip[off+4:])
			if out.FragOffset != 0 {
				// The headers after this one are in the first fragment.
				k.Proto = ip[off]
				out.IPOptionsLen = uint16(off + 8 - 40)
				return nil
			}
		}
		next = ip[off]
		off += hlen
	}
	k.Proto = next
	out.IPOptionsLen = uint16(off - 40)
	if off > len(ip) {
		return nil // the last extension header's body is cut short
	}
	return d.transport(ip[off:], uint32(total-off), out, depth)
}

// isExtHeader says whether an IPv6 next-header value is an extension
// header the decoder walks past to find the upper-layer protocol. ESP is
// not: what follows it is encrypted.
func isExtHeader(next uint8) bool {
	switch next {
	case protoHopByHop, protoRouting, protoFragment, protoAH, protoDestOpts:
		return true
	}
	return false
}

// jumboLength returns the Jumbo Payload option's length (RFC 2675) when
// the packet's hop-by-hop header has one.
func jumboLength(b []byte) (uint64, bool) {
	if b[6] != protoHopByHop || len(b) < 42 {
		return 0, false
	}
	end := min(40+(int(b[41])+1)*8, len(b))
	for i := 42; i < end; {
		const pad1, jumbo = 0x00, 0xc2
		if b[i] == pad1 {
			i++
			continue
		}
		if i+2 > end {
			break
		}
		optLen := int(b[i+1])
		if b[i] == jumbo && optLen == 4 && i+6 <= end {
			return uint64(binary.BigEndian.Uint32(b[i+2:])), true
		}
		i += 2 + optLen
	}
	return 0, false
}
