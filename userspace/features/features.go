// Package features computes the intraflow data of a flow record: the
// sequence of packet lengths and times (SPLT), the byte distribution and
// entropy of the payload, the first data packets, and the IP, TCP and ICMP
// header facts Joy reports. State is per record and per canonical side;
// the record package turns it into JSON with "out"/"in" relative to the
// initiator.
package features

import (
	"github.com/flowjoy/flowjoy/userspace/decode"
	"github.com/flowjoy/flowjoy/userspace/flowkey"
)

// Config selects and bounds the features.
type Config struct {
	// NumPkts is how many packets the "packets" list keeps (Joy: 50).
	NumPkts int
	// Zeros lists packets without payload too (TCP handshake, ACKs).
	Zeros bool
	// DistBytes caps how many payload bytes per flow the byte
	// distribution covers; negative means all of them.
	DistBytes int64
	// IDPBytes is how many bytes of the first data packet of each
	// direction to report (Joy's --idp); 0 turns it off.
	IDPBytes int
	// ByteDist turns on the byte distribution and entropy.
	ByteDist bool
}

// Defaults.
const (
	DefaultNumPkts = 50
	MaxNumPkts     = 1000
)

// firstCap is the capacity of the packets and IP id lists when they are
// first allocated.
const firstCap = 4

// Packet is one entry of the packets list.
type Packet struct {
	Len  uint32 // transport payload bytes from the length fields
	Side uint8  // canonical side of the sender
	TS   int64  // ns
}

// Flow is the feature state of one record. It is kept for every flow in
// the table, so what most flows never use (the byte distribution, --idp,
// tunnels) is behind pointers allocated on first use.
type Flow struct {
	Packets []Packet
	Dist    *ByteDist // nil until the first payload byte
	IP      [2]IPInfo
	TCP     TCPInfo
	ICMP    ICMPInfo
	// Rare is nil until the flow has an --idp packet or a tunnel.
	Rare *Rare
}

// Rare holds the features few flows have.
type Rare struct {
	IDP    [2][]byte
	Tunnel TunnelInfo
}

// IDP returns the first data packet bytes of a side (nil if none).
func (f *Flow) IDP(side uint8) []byte {
	if f.Rare == nil {
		return nil
	}
	return f.Rare.IDP[side]
}

// Tunnel returns the encapsulation of the flow's first packet (Type 0:
// none).
func (f *Flow) Tunnel() *TunnelInfo {
	if f.Rare == nil {
		return &noTunnel
	}
	return &f.Rare.Tunnel
}

// noTunnel is what Tunnel returns for a flow without Rare; read only.
var noTunnel TunnelInfo

func (f *Flow) rare() *Rare {
	if f.Rare == nil {
		f.Rare = new(Rare)
	}
	return f.Rare
}

// IPInfo is Joy's "ip" object for one direction.
type IPInfo struct {
	Seen bool
	TTL  uint8
	IDs  []uint16 // IPv4 identification of the first NumPkts packets
}

// TCPInfo is Joy's "tcp" object.
type TCPInfo struct {
	FirstSeq    uint32
	FirstSeqSet bool
	Dir         [2]TCPDir
}

// TCPDir is the "out" or "in" half of the tcp object: facts of the first
// TCP packet of that direction (Joy's meaning of "flags"), plus the OR of
// all flags seen (a new key).
type TCPDir struct {
	Seen        bool
	FirstFlags  uint8
	FirstWindow uint16
	Options     []byte // raw options of the first packet
}

// ICMPInfo is the type, code and echo id of the flow's first ICMP packet.
type ICMPInfo struct {
	Seen       bool
	Type, Code uint8
	ID         uint16
}

// TunnelInfo names the encapsulation of the flow's first packet.
type TunnelInfo struct {
	Type  decode.Tunnel
	Outer flowkey.Key
	ID    uint32
}

// Reset clears the state for the next record of the same flow, keeping
// allocated memory.
func (f *Flow) Reset() {
	pk := f.Packets[:0]
	ids := [2][]uint16{f.IP[0].IDs[:0], f.IP[1].IDs[:0]}
	dist := f.Dist
	*f = Flow{Packets: pk}
	f.IP[0].IDs, f.IP[1].IDs = ids[0], ids[1]
	if dist != nil {
		*dist = ByteDist{}
		f.Dist = dist
	}
}

// Add accounts one packet sent by side.
func (f *Flow) Add(cfg *Config, side uint8, ts int64, p *decode.Packet) {
	if (p.PayloadLen > 0 || cfg.Zeros) && len(f.Packets) < cfg.NumPkts {
		if f.Packets == nil {
			// Most flows list a few packets: one allocation for the
			// first firstCap instead of growing from 1.
			f.Packets = make([]Packet, 0, min(cfg.NumPkts, firstCap))
		}
		f.Packets = append(f.Packets, Packet{Len: p.PayloadLen, Side: side, TS: ts})
	}
	if cfg.ByteDist && len(p.Payload) > 0 {
		if f.Dist == nil {
			f.Dist = new(ByteDist)
		}
		f.Dist.Add(p.Payload, cfg.DistBytes)
	}
	if cfg.IDPBytes > 0 && p.PayloadLen > 0 && f.IDP(side) == nil {
		n := min(len(p.IP), cfg.IDPBytes)
		f.rare().IDP[side] = append(make([]byte, 0, n), p.IP[:n]...)
	}

	ip := &f.IP[side]
	if !ip.Seen {
		ip.Seen, ip.TTL = true, p.TTL
	}
	if p.Key.IPVersion == 4 && len(ip.IDs) < cfg.NumPkts {
		if ip.IDs == nil {
			ip.IDs = make([]uint16, 0, min(cfg.NumPkts, firstCap))
		}
		ip.IDs = append(ip.IDs, uint16(p.IPID))
	}

	switch p.Key.Proto {
	case flowkey.ProtoTCP:
		if !p.TransportOK {
			break
		}
		d := &f.TCP.Dir[side]
		if !d.Seen {
			d.Seen = true
			d.FirstFlags = p.TCPFlags
			d.FirstWindow = p.Window
			d.Options = append([]byte(nil), p.TCPOptions...)
		}
	case flowkey.ProtoICMP, flowkey.ProtoICMPv6:
		if !f.ICMP.Seen && p.TransportOK {
			f.ICMP = ICMPInfo{Seen: true, Type: p.ICMPType, Code: p.ICMPCode, ID: p.ICMPID}
		}
	}
	if p.Tunnel != decode.TunnelNone && f.Tunnel().Type == decode.TunnelNone {
		f.rare().Tunnel = TunnelInfo{Type: p.Tunnel, Outer: p.TunnelKey, ID: p.TunnelID}
	}
}

// NoteFirstSeq records the initiator's first sequence number (the ISN of
// its SYN when the capture has it).
func (f *Flow) NoteFirstSeq(seq uint32) {
	if !f.TCP.FirstSeqSet {
		f.TCP.FirstSeq, f.TCP.FirstSeqSet = seq, true
	}
}
