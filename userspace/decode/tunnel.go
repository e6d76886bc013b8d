package decode

import (
	"encoding/binary"
	"errors"
)

// UDP ports of the UDP-carried tunnels (destination port).
const (
	portVXLAN    = 4789
	portVXLANGPE = 4790
	portGeneve   = 6081
)

// Tunnels are entered only when the outer packet can be: decapsulation is
// on, the nesting bound is not reached, and the outer packet is not a
// fragment (its inner packet is split across fragments, which the decoder
// does not reassemble: the fragments count in the outer flow).
func (d *Decoder) canEnter(out *Packet, depth int) bool {
	return !d.NoDecap && depth < maxTunnelDepth && !out.Fragment
}

// inner names the framing of a tunnel's payload.
type inner uint8

const (
	innerEthernet  inner = iota // an Ethernet frame
	innerEtherType              // the payload of the given EtherType
	innerIP                     // IPv4 or IPv6, by version nibble
)

// enter decodes a tunnel's payload as the flow's packet. When that fails
// for lack of a flow key (cut short, malformed) the tunnel is taken not to
// be one, or not to be readable, and the outer packet stays the flow;
// when the inner frame is well formed but not IP, the packet is not a
// flow packet (ErrNotIP). On success the outermost tunnel is recorded:
// each enclosing call overwrites what the inner ones set.
func (d *Decoder) enter(t Tunnel, id uint32, framing inner, etype uint16, b []byte, out *Packet, depth int) error {
	outer := *out
	var err error
	switch framing {
	case innerEthernet:
		err = d.ethernet(b, out, depth+1)
	case innerEtherType:
		err = d.etherType(etype, b, out, depth+1)
	case innerIP:
		err = d.rawIP(b, out, depth+1)
	}
	if err != nil {
		*out = outer
		if errors.Is(err, ErrNotIP) {
			return err
		}
		return nil
	}
	out.Tunnel, out.TunnelID, out.TunnelKey = t, id, outer.Key
	return nil
}

// udpTunnel enters VXLAN and Geneve by their destination port, when the
// header is plausible (VXLAN's valid-VNI flag set, Geneve version 0 and
// a protocol type we read); other traffic on those ports stays UDP.
func (d *Decoder) udpTunnel(out *Packet, depth int) error {
	if !d.canEnter(out, depth) {
		return nil
	}
	b := out.Payload
	switch out.Key.DstPort {
	case portVXLAN:
		// flags(8) reserved(24) VNI(24) reserved(8), RFC 7348.
		if len(b) < 8 || b[0]&0x08 == 0 {
			return nil
		}
		return d.enter(TunnelVXLAN, binary.BigEndian.Uint32(b[4:])>>8, innerEthernet, 0, b[8:], out, depth)
	case portVXLANGPE:
		// VXLAN-GPE (RFC draft-ietf-nvo3-vxlan-gpe): the P flag says
		// the last reserved byte of the first word names the payload.
		if len(b) < 8 || b[0]&0x08 == 0 {
			return nil
		}
		vni := binary.BigEndian.Uint32(b[4:]) >> 8
		next := uint8(3) // Ethernet when P is clear, as in VXLAN
		if b[0]&0x04 != 0 {
			next = b[3]
		}
		switch next {
		case 4:
			return d.enter(TunnelVXLAN, vni, innerEtherType, etherNSH, b[8:], out, depth)
		case 1:
			return d.enter(TunnelVXLAN, vni, innerEtherType, etherIPv4, b[8:], out, depth)
		case 2:
			return d.enter(TunnelVXLAN, vni, innerEtherType, etherIPv6, b[8:], out, depth)
		case 3:
			return d.enter(TunnelVXLAN, vni, innerEthernet, 0, b[8:], out, depth)
		}
	case portGeneve:
		// ver(2) optlen(6) flags(8) protocol(16) VNI(24) reserved(8)
		// options(optlen*4), RFC 8926.
		if len(b) < 8 || b[0]>>6 != 0 {
			return nil
		}
		hl := 8 + int(b[0]&0x3f)*4
		if len(b) < hl {
			return nil
		}
		vni := binary.BigEndian.Uint32(b[4:]) >> 8
		proto := binary.BigEndian.Uint16(b[2:])
		switch proto {
		case etherTransBridge:
			return d.enter(TunnelGeneve, vni, innerEthernet, 0, b[hl:], out, depth)
		case etherIPv4, etherIPv6:
			return d.enter(TunnelGeneve, vni, innerEtherType, proto, b[hl:], out, depth)
		}
	}
	return nil
}

// ipTunnel enters IP-in-IP (IPv4 or IPv6 inside IPv4 or IPv6) and GRE.
func (d *Decoder) ipTunnel(b []byte, out *Packet, depth int) error {
	if !d.canEnter(out, depth) {
		return nil
	}
	switch out.Key.Proto {
	case protoIPIP:
		return d.enter(TunnelIPIP, 0, innerEtherType, etherIPv4, b, out, depth)
	case protoIPv6:
		return d.enter(TunnelIPIP, 0, innerEtherType, etherIPv6, b, out, depth)
	case protoGRE:
		return d.gre(b, out, depth)
	}
	return nil
}

// GRE header flag bits (RFC 2784, RFC 2890, RFC 2637).
const (
	greChecksum = 0x8000
	greRouting  = 0x4000 // RFC 1701 source routing: obsolete, not entered
	greKey      = 0x2000
	greSequence = 0x1000
	greAck      = 0x0080 // enhanced GRE (version 1) only
	greVersion  = 0x0007
)

// PPTP's enhanced GRE carries PPP.
const grePPP = 0x880b

// gre enters GRE version 0 carrying IP, MPLS, Ethernet or ERSPAN, and
// PPTP's version 1 when its PPP frame carries IP. Other versions and
// protocol types are not entered: the GRE packet is the flow.
func (d *Decoder) gre(b []byte, out *Packet, depth int) error {
	if len(b) < 4 {
		return nil
	}
	flags := binary.BigEndian.Uint16(b)
	if flags&greRouting != 0 {
		return nil
	}
	switch flags & greVersion {
	case 0:
	case 1:
		return d.pptp(b, out, depth)
	default:
		return nil
	}
	proto := binary.BigEndian.Uint16(b[2:])
	hl := 4
	if flags&greChecksum != 0 {
		hl += 4
	}
	var key uint32
	if flags&greKey != 0 {
		if len(b) < hl+4 {
			return nil
		}
		key = binary.BigEndian.Uint32(b[hl:])
		hl += 4
	}
	if flags&greSequence != 0 {
		hl += 4
	}
	if len(b) < hl {
		return nil
	}
	payload := b[hl:]
	switch proto {
	case etherIPv4, etherIPv6, etherMPLS, etherMPLSMulti:
		return d.enter(TunnelGRE, key, innerEtherType, proto, payload, out, depth)
	case etherTransBridge:
		return d.enter(TunnelGRE, key, innerEthernet, 0, payload, out, depth)
	case etherERSPAN2:
		if flags&greSequence == 0 {
			// ERSPAN type I: no ERSPAN header, the mirrored frame follows.
			return d.enter(TunnelERSPAN, 0, innerEthernet, 0, payload, out, depth)
		}
		// Type II: ver(4) vlan(12) cos(3) en(2) t(1) session(10) reserved(12) index(20).
		if len(payload) < 8 {
			return nil
		}
		session := uint32(binary.BigEndian.Uint16(payload[2:]) & 0x03ff)
		return d.enter(TunnelERSPAN, session, innerEthernet, 0, payload[8:], out, depth)
	case etherERSPAN3:
		return d.erspan3(payload, out, depth)
	case etherWCCP:
		// WCCPv2 puts a 4-byte redirect header before the packet,
		// WCCPv1 does not; the redirect header never starts with an
		// IPv4 version nibble.
		if len(payload) > 0 && payload[0]>>4 != 4 {
			if len(payload) < 4 {
				return nil
			}
			payload = payload[4:]
		}
		return d.enter(TunnelGRE, key, innerEtherType, etherIPv4, payload, out, depth)
	}
	return nil
}

// erspan3 enters ERSPAN type III: a 12-byte header, an optional 8-byte
// platform-specific subheader (O bit), then an Ethernet frame or, with
// frame type 2, an IP packet.
func (d *Decoder) erspan3(b []byte, out *Packet, depth int) error {
	// ver(4) vlan(12) cos(3) bso(2) t(1) session(10) timestamp(32)
	// sgt(16) p(1) ft(5) hwid(6) d(1) gra(2) o(1).
	if len(b) < 12 {
		return nil
	}
	session := uint32(binary.BigEndian.Uint16(b[2:]) & 0x03ff)
	frameType := (b[10] >> 2) & 0x1f
	hl := 12
	if b[11]&0x01 != 0 {
		hl += 8
	}
	if len(b) < hl {
		return nil
	}
	switch frameType {
	case 0:
		return d.enter(TunnelERSPAN, session, innerEthernet, 0, b[hl:], out, depth)
	case 2:
		return d.enter(TunnelERSPAN, session, innerIP, 0, b[hl:], out, depth)
	}
	return nil
}

// pptp enters PPTP's enhanced GRE (RFC 2637): a key made of the payload
// length and call id, optional sequence and acknowledgement numbers, then
// a PPP frame. Only PPP frames carrying IP are entered: control protocols
// and MPPE-encrypted or compressed frames (the bulk of most PPTP tunnels)
// stay in the GRE flow, so the tunnel's traffic is still counted.
func (d *Decoder) pptp(b []byte, out *Packet, depth int) error {
	flags := binary.BigEndian.Uint16(b)
	if flags&greKey == 0 || binary.BigEndian.Uint16(b[2:]) != grePPP {
		return nil
	}
	hl := 8
	if flags&greSequence != 0 {
		hl += 4
	}
	if flags&greAck != 0 {
		hl += 4
	}
	if len(b) < hl {
		return nil
	}
	callID := uint32(binary.BigEndian.Uint16(b[6:]))
	ppp := b[hl:]
	if len(ppp) >= 2 && ppp[0] == 0xff && ppp[1] == 0x03 {
		ppp = ppp[2:]
	}
	var proto uint16
	switch {
	case len(ppp) >= 1 && ppp[0]&0x01 != 0:
		proto, ppp = uint16(ppp[0]), ppp[1:]
	case len(ppp) >= 2:
		proto, ppp = binary.BigEndian.Uint16(ppp), ppp[2:]
	default:
		return nil
	}
	switch proto {
	case pppIPv4:
		return d.enter(TunnelGRE, callID, innerEtherType, etherIPv4, ppp, out, depth)
	case pppIPv6:
		return d.enter(TunnelGRE, callID, innerEtherType, etherIPv6, ppp, out, depth)
	}
	return nil
}
