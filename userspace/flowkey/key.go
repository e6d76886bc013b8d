// Package flowkey is the identity of a flow: the tuple the decoder reads
// from a packet, its direction-free canonical form, and the Community ID
// that other tools (Zeek, Suricata) compute for the same tuple.
package flowkey

import (
	"bytes"
	"net/netip"
)

// Key is a flow tuple as seen on one packet (Src is that packet's sender).
// Addresses are 16 bytes; IPv4 uses the first 4 and sets IPVersion 4, so the
// struct stays comparable and fixed-size: a map key that hashes without
// allocating.
type Key struct {
	Src, Dst  [16]byte
	SrcPort   uint16 // 0 for protocols without ports
	DstPort   uint16
	Proto     uint8  // IP protocol number of the innermost keyed header
	IPVersion uint8  // 4 or 6
	VLAN      uint16 // outer 802.1Q/802.1ad VLAN id, 0 when untagged
	IfIndex   uint32 // interface the flow was seen on (one record per interface)
}

// Reverse returns the key of the opposite direction.
func (k Key) Reverse() Key {
	k.Src, k.Dst = k.Dst, k.Src
	k.SrcPort, k.DstPort = k.DstPort, k.SrcPort
	return k
}

// Canonical returns the key with the lower (address, port) endpoint as Src,
// and whether the packet's sender is that lower endpoint (side 0). Both
// directions of a conversation map to the same canonical key.
func (k Key) Canonical() (Key, uint8) {
	if c := bytes.Compare(k.Src[:], k.Dst[:]); c < 0 || (c == 0 && k.SrcPort <= k.DstPort) {
		return k, 0
	}
	return k.Reverse(), 1
}

// SrcAddr returns the source address as a netip.Addr.
func (k *Key) SrcAddr() netip.Addr { return k.addr(&k.Src) }

// DstAddr returns the destination address as a netip.Addr.
func (k *Key) DstAddr() netip.Addr { return k.addr(&k.Dst) }

func (k *Key) addr(a *[16]byte) netip.Addr {
	if k.IPVersion == 4 {
		return netip.AddrFrom4([4]byte{a[0], a[1], a[2], a[3]})
	}
	return netip.AddrFrom16(*a)
}

// HasPorts says whether the protocol's flows are keyed by ports.
func HasPorts(proto uint8) bool {
	switch proto {
	case ProtoTCP, ProtoUDP, ProtoSCTP, ProtoUDPLite, ProtoDCCP:
		return true
	}
	return false
}

// IP protocol numbers the pipeline treats specially.
const (
	ProtoICMP    = 1
	ProtoTCP     = 6
	ProtoUDP     = 17
	ProtoDCCP    = 33
	ProtoICMPv6  = 58
	ProtoSCTP    = 132
	ProtoUDPLite = 136
)
