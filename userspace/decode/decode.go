package decode

import (
	"encoding/binary"

	"github.com/flowjoy/flowjoy/userspace/event"
)

// Decoder reads packets into Packets. The zero value decodes with tunnel
// decapsulation on. A Decoder holds no per-packet state: one value may be
// reused for every packet (and copied freely).
type Decoder struct {
	// NoDecap keeps tunnels closed: the outermost IP packet is the flow
	// (a VXLAN packet is then a UDP packet to port 4789, a GRE packet
	// one of IP protocol 47).
	NoDecap bool
}

// Bounds on the headers walked per packet, so that crafted input costs a
// bounded amount of work. Each is far above what real networks use.
const (
	maxVLANTags    = 8  // stacked 802.1Q/802.1ad tags
	maxMPLSLabels  = 16 // labels in one MPLS stack
	maxExtHeaders  = 16 // IPv6 extension headers (and IPv4 AH) per IP header
	maxTunnelDepth = 4  // tunnels entered per packet
)

// Link types read besides the named event.LinkType constants: raw IP under
// the BSD DLT numbers that some old captures carry as their link type,
// PPP in HDLC-like framing, and Cisco HDLC.
const (
	linkRawBSD12 event.LinkType = 12
	linkRawBSD14 event.LinkType = 14
	linkPPPHDLC  event.LinkType = 50
	linkCHDLC    event.LinkType = 104
	linkNFLOG    event.LinkType = 239 // Linux netfilter log messages
	linkPKTAP    event.LinkType = 258 // Apple PKTAP: a header, then another link type
)

// EtherTypes (and, where the framing reuses them, GRE protocol types).
const (
	etherIPv4        = 0x0800
	etherIPv6        = 0x86dd
	etherVLAN        = 0x8100 // 802.1Q
	etherQinQ        = 0x88a8 // 802.1ad
	etherQinQOld     = 0x9100 // pre-standard QinQ
	etherMPLS        = 0x8847
	etherMPLSMulti   = 0x8848
	etherPPPoESess   = 0x8864
	etherTransBridge = 0x6558 // Ethernet in GRE / Geneve
	etherERSPAN2     = 0x88be // ERSPAN type I and II
	etherERSPAN3     = 0x22eb
	etherNSH         = 0x894f // Network Service Header (RFC 8300)
	etherWCCP        = 0x883e // WCCP redirection in GRE
	etherMaxLength   = 1500   // values up to this are 802.3 lengths
	etherMinType     = 0x0600 // values from this are EtherTypes
)

// Decode reads one packet of the given link type into out, which it
// resets first. Slices in out point into data.
//
// On success out is the flow's packet: the innermost IP packet of known
// tunnels unless NoDecap is set. On error (see ErrNotIP, ErrTruncated,
// ErrMalformed, ErrUnsupportedLink) out holds whatever was read before the
// failure and must not be counted as a flow packet.
func (d *Decoder) Decode(link event.LinkType, data []byte, out *Packet) error {
	*out = Packet{}
	switch link {
	case event.LinkEthernet:
		return d.ethernet(data, out, 0)
	case event.LinkRaw, linkRawBSD12, linkRawBSD14, event.LinkIPv4, event.LinkIPv6:
		// LINKTYPE_IPV4/IPV6 promise one version; the version nibble is
		// trusted over the promise, as Wireshark does, so that a
		// mislabelled capture still counts.
		return d.rawIP(data, out, 0)
	case event.LinkNull, event.LinkLoop:
		return d.loopback(data, out)
	case event.LinkLinuxSLL:
		return d.sll(data, out)
	case event.LinkSLL2:
		return d.sll2(data, out)
	case event.LinkPPP, linkPPPHDLC:
		return d.ppp(data, out, 0)
	case event.LinkPPPoE:
		return d.pppoe(data, out, 0)
	case linkCHDLC:
		return d.chdlc(data, out)
	case linkNFLOG:
		return d.nflog(data, out)
	case linkPKTAP:
		return d.pktap(data, out)
	}
	return ErrUnsupportedLink
}

// ethernet reads an Ethernet II or 802.3 frame. depth is the number of
// tunnels entered to reach it (0 for the capture's own link layer).
func (d *Decoder) ethernet(b []byte, out *Packet, depth int) error {
	if len(b) < 14 {
		return errShortEthernet
	}
	return d.etherType(binary.BigEndian.Uint16(b[12:]), b[14:], out, depth)
}

// etherType dispatches on an EtherType (or an 802.3 length) for the bytes
// that follow it, walking VLAN tags. Only the first tag of the capture's
// own link layer (depth 0) names the flow's VLAN: tags inside tunnels
// belong to the tunnelled network, not to where we observe.
func (d *Decoder) etherType(etype uint16, b []byte, out *Packet, depth int) error {
	for tags := 0; ; tags++ {
		switch etype {
		case etherIPv4:
			return d.ipv4(b, out, depth)
		case etherIPv6:
			return d.ipv6(b, out, depth)
		case etherMPLS, etherMPLSMulti:
			return d.mpls(b, out, depth)
		case etherPPPoESess:
			return d.pppoe(b, out, depth)
		case etherNSH:
			return d.nsh(b, out, depth)
		case etherVLAN, etherQinQ, etherQinQOld:
			if tags == maxVLANTags {
				return errTooManyVLANs
			}
			if len(b) < 4 {
				return errShortVLAN
			}
			if depth == 0 && tags == 0 {
				out.Key.VLAN = binary.BigEndian.Uint16(b) & 0x0fff
			}
			etype, b = binary.BigEndian.Uint16(b[2:]), b[4:]
			continue
		}
		if etype <= etherMaxLength {
			return d.llc(b, out, depth)
		}
		return ErrNotIP
	}
}

// llc reads an 802.2 LLC header (the payload of an 802.3 frame). Only
// SNAP with the zero OUI (RFC 1042) carries an EtherType, hence maybe IP;
// STP, NetBIOS, IPX and the rest are not IP.
func (d *Decoder) llc(b []byte, out *Packet, depth int) error {
	if len(b) >= 3 && b[0] == 0xaa && b[1] == 0xaa && b[2] == 0x03 {
		if len(b) < 8 {
			return errShortLLC
		}
		if b[3] == 0 && b[4] == 0 && b[5] == 0 {
			return d.etherType(binary.BigEndian.Uint16(b[6:]), b[8:], out, depth)
		}
	}
	return ErrNotIP
}

// rawIP reads an IP packet whose version only its first nibble tells.
func (d *Decoder) rawIP(b []byte, out *Packet, depth int) error {
	if len(b) == 0 {
		return errShortRawIP
	}
	switch b[0] >> 4 {
	case 4:
		return d.ipv4(b, out, depth)
	case 6:
		return d.ipv6(b, out, depth)
	}
	return errRawIPVersion
}

// mpls walks an MPLS label stack to its bottom. MPLS does not say what it
// carries: IPv4 and IPv6 are told apart by the version nibble, as routers
// do; anything else (pseudowires, control words) is not IP to us.
func (d *Decoder) mpls(b []byte, out *Packet, depth int) error {
	for labels := 0; ; labels++ {
		if labels == maxMPLSLabels {
			return errTooManyLabels
		}
		if len(b) < 4 {
			return errShortMPLS
		}
		bottom := b[2]&0x01 != 0
		b = b[4:]
		if bottom {
			break
		}
	}
	if len(b) == 0 {
		return errShortMPLS
	}
	switch b[0] >> 4 {
	case 4:
		return d.ipv4(b, out, depth)
	case 6:
		return d.ipv6(b, out, depth)
	}
	return ErrNotIP
}

// PPP protocol numbers.
const (
	pppIPv4      = 0x0021
	pppIPv6      = 0x0057
	pppMPLS      = 0x0281
	pppMPLSMulti = 0x0283
)

// ppp reads a PPP frame, with or without the 0xff 0x03 address and
// control bytes of HDLC-like framing (RFC 1662).
func (d *Decoder) ppp(b []byte, out *Packet, depth int) error {
	if len(b) >= 2 && b[0] == 0xff && b[1] == 0x03 {
		b = b[2:]
	}
	return d.pppProtocol(b, out, depth)
}

// pppProtocol reads the PPP protocol field, one byte when compressed
// (protocol field compression: an odd first byte) else two.
func (d *Decoder) pppProtocol(b []byte, out *Packet, depth int) error {
	if len(b) == 0 {
		return errShortPPP
	}
	var proto uint16
	if b[0]&0x01 != 0 {
		proto, b = uint16(b[0]), b[1:]
	} else {
		if len(b) < 2 {
			return errShortPPP
		}
		proto, b = binary.BigEndian.Uint16(b), b[2:]
	}
	switch proto {
	case pppIPv4:
		return d.ipv4(b, out, depth)
	case pppIPv6:
		return d.ipv6(b, out, depth)
	case pppMPLS, pppMPLSMulti:
		return d.mpls(b, out, depth)
	}
	return ErrNotIP
}

// pppoe reads a PPPoE session header (RFC 2516) and the PPP frame in it.
func (d *Decoder) pppoe(b []byte, out *Packet, depth int) error {
	if len(b) < 6 {
		return errShortPPPoE
	}
	if b[0] != 0x11 || b[1] != 0x00 { // version 1, type 1; code 0 = session data
		return errPPPoEHeader
	}
	return d.pppProtocol(b[6:], out, depth)
}

// Linux cooked-capture ARPHRD types that change the protocol field's meaning.
const (
	arphrdNetlink = 824 // netlink messages, not packets
)

// sll reads a Linux cooked capture v1 header. Its protocol field is an
// EtherType, or an 802.3-style small number for non-Ethernet framings
// (4 = 802.2 LLC frame follows).
func (d *Decoder) sll(b []byte, out *Packet) error {
	if len(b) < 16 {
		return errShortSLL
	}
	if binary.BigEndian.Uint16(b[2:]) == arphrdNetlink {
		return ErrNotIP
	}
	return d.cookedProtocol(binary.BigEndian.Uint16(b[14:]), b[16:], out)
}

// sll2 reads a Linux cooked capture v2 header.
func (d *Decoder) sll2(b []byte, out *Packet) error {
	if len(b) < 20 {
		return errShortSLL2
	}
	if binary.BigEndian.Uint16(b[8:]) == arphrdNetlink {
		return ErrNotIP
	}
	return d.cookedProtocol(binary.BigEndian.Uint16(b), b[20:], out)
}

func (d *Decoder) cookedProtocol(proto uint16, b []byte, out *Packet) error {
	const llcFrame = 0x0004 // LINUX_SLL_P_802_2
	if proto == llcFrame {
		return d.llc(b, out, 0)
	}
	if proto < etherMinType {
		return ErrNotIP // Novell 802.3, CAN, and the other Linux pseudo-protocols
	}
	return d.etherType(proto, b, out, 0)
}

// BSD address-family values for IPv6: Linux, NetBSD/OpenBSD, FreeBSD,
// Darwin. IPv4 is 2 everywhere.
func isAFInet6(f uint32) bool { return f == 10 || f == 24 || f == 28 || f == 30 }

// loopback reads the 4-byte address family of BSD NULL (host byte order
// of the capturing machine, so either order here) and OpenBSD LOOP
// (network order) captures. No family value is another's byte-swap, so
// trying both orders is unambiguous.
func (d *Decoder) loopback(b []byte, out *Packet) error {
	if len(b) < 4 {
		return errShortLoopback
	}
	le, be := binary.LittleEndian.Uint32(b), binary.BigEndian.Uint32(b)
	switch {
	case le == 2 || be == 2:
		return d.ipv4(b[4:], out, 0)
	case isAFInet6(le) || isAFInet6(be):
		return d.ipv6(b[4:], out, 0)
	}
	return ErrNotIP
}

// chdlc reads a Cisco HDLC header: address, control, EtherType.
func (d *Decoder) chdlc(b []byte, out *Packet) error {
	if len(b) < 4 {
		return errShortCHDLC
	}
	return d.etherType(binary.BigEndian.Uint16(b[2:]), b[4:], out, 0)
}

// nsh reads a Network Service Header (RFC 8300): a service path header
// between a frame and the packet it steers, not a tunnel of its own.
func (d *Decoder) nsh(b []byte, out *Packet, depth int) error {
	// ver(2) O(1) U(1) TTL(6) length(6) U(4) MD type(4) next protocol(8)
	// service path id(24) service index(8) [context headers].
	if len(b) < 8 {
		return errShortNSH
	}
	if b[0]>>6 != 0 {
		return errNSHHeader
	}
	hl := int(b[1]&0x3f) * 4
	if hl < 8 {
		return errNSHHeader
	}
	if len(b) < hl {
		return errShortNSH
	}
	switch b[3] {
	case 1:
		return d.ipv4(b[hl:], out, depth)
	case 2:
		return d.ipv6(b[hl:], out, depth)
	case 3:
		return d.ethernet(b[hl:], out, depth)
	case 5:
		return d.mpls(b[hl:], out, depth)
	}
	return ErrNotIP
}

// pktap reads Apple's PKTAP header: its length and the link type of what
// follows lead the header, in the capturing host's byte order (little
// endian on every Apple platform).
func (d *Decoder) pktap(b []byte, out *Packet) error {
	if len(b) < 8 {
		return errShortPKTAP
	}
	hl := binary.LittleEndian.Uint32(b)
	next := binary.LittleEndian.Uint32(b[4:])
	if hl < 8 || next > 0xffff || event.LinkType(next) == linkPKTAP {
		return errPKTAPHeader
	}
	if uint32(len(b)) < hl {
		return errShortPKTAP
	}
	return d.Decode(event.LinkType(next), b[hl:], out)
}

// NFLOG message constants (linux/netfilter/nfnetlink_log.h).
const (
	nflogPayload = 9 // NFULA_PAYLOAD: the packet, from its IP header
	afInet       = 2
	afInet6      = 10
)

// nflog reads a netfilter log message: a 4-byte header (address family,
// version, resource id) and type-length-value attributes, one of which is
// the packet. TLV lengths and types are in the capturing host's byte
// order: little endian is tried first, big endian when that cannot be.
func (d *Decoder) nflog(b []byte, out *Packet) error {
	if len(b) < 4 {
		return errShortNFLOG
	}
	family := b[0]
	if family != afInet && family != afInet6 {
		return ErrNotIP
	}
	order := binary.ByteOrder(binary.LittleEndian)
	for off := 4; off+4 <= len(b); {
		tlvLen := int(order.Uint16(b[off:]))
		if tlvLen < 4 || off+tlvLen > len(b) {
			if order == binary.ByteOrder(binary.LittleEndian) && off == 4 {
				order = binary.BigEndian
				continue
			}
			return errShortNFLOG
		}
		if order.Uint16(b[off+2:])&0x7fff == nflogPayload { // high bit: nested flag
			payload := b[off+4 : off+tlvLen]
			if family == afInet {
				return d.ipv4(payload, out, 0)
			}
			return d.ipv6(payload, out, 0)
		}
		off += (tlvLen + 3) &^ 3 // attributes are 4-byte aligned
	}
	return errShortNFLOG
}
