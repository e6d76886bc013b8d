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

// spillCap is how many entries of the packets list and of each side's
// IP ids after the first fit in a spill before the lists grow on their
// own: 9 fills the spill's 256-byte size class (72 bytes of slice
// headers, 9·16 of packets, 2·9·2 of ids), so a flow lists 10 packets and
// 10 ids per side in one allocation.
const spillCap = 9

// Packet is one entry of the packets list.
type Packet struct {
	Len  uint32 // transport payload bytes from the length fields
	Side uint8  // canonical side of the sender
	TS   int64  // ns
}

// Flow is the feature state of one record. It is kept for every flow in
// the table (issue 8: at most 300 bytes per basic flow at a million
// flows), so it is compact: the first packet of the packets list, the
// first IP id of each side and the TCP options are inline, and what only
// longer or rarer flows need (the rest of the lists, the byte
// distribution, --idp, tunnels) is behind pointers allocated on first
// use. Read the lists with NumPackets/PacketAt, NumIPIDs/IPID and
// TCPOptions.
type Flow struct {
	more *spill    // nil until a list has a second entry
	Dist *ByteDist // nil until the first payload byte
	// Rare is nil until the flow has an --idp packet or a tunnel.
	Rare *Rare
	// opts holds the TCP options of the first packet of each side,
	// concatenated in the order the sides were first seen.
	opts    string
	pk0TS   int64
	pk0Len  uint32
	TCP     TCPInfo
	IP      [2]IPInfo
	ICMP    ICMPInfo
	pk0Side uint8 // the first listed packet's side
	optsLen [2]uint8
	flags   uint8 // the bits below
}

// Bits of Flow.flags.
const (
	hasPk0         = 1 << iota // the packets list has its first entry
	optsSide1First             // side 1's options come first in opts
	hasID0                     // IP[0].firstID is listed
	hasID1                     // IP[1].firstID is listed
)

// spill holds the lists past their first entry, with room for spillCap
// more entries of each in the same allocation: a flow that spills at all
// usually lists a few more packets and ids on both sides, which cost one
// allocation instead of four.
type spill struct {
	packets []Packet
	ids     [2][]uint16
	pkBuf   [spillCap]Packet
	idBuf   [2][spillCap]uint16
}

// Rare holds the features few flows have.
type Rare struct {
	IDP    [2][]byte
	Tunnel TunnelInfo
}

// NumPackets returns the length of the packets list.
func (f *Flow) NumPackets() int {
	if f.flags&hasPk0 == 0 {
		return 0
	}
	if f.more == nil {
		return 1
	}
	return 1 + len(f.more.packets)
}

// PacketAt returns entry i of the packets list.
func (f *Flow) PacketAt(i int) Packet {
	if i == 0 {
		return Packet{Len: f.pk0Len, Side: f.pk0Side, TS: f.pk0TS}
	}
	return f.more.packets[i-1]
}

// AppendPacket adds an entry to the packets list.
func (f *Flow) AppendPacket(p Packet) { f.appendPacket(nil, p) }

func (f *Flow) appendPacket(pool *Pool, p Packet) {
	if f.flags&hasPk0 == 0 {
		f.pk0Len, f.pk0Side, f.pk0TS = p.Len, p.Side, p.TS
		f.flags |= hasPk0
		return
	}
	m := f.spill(pool)
	m.packets = append(m.packets, p)
}

func (f *Flow) spill(pool *Pool) *spill {
	if f.more == nil {
		f.more = pool.takeSpill()
	}
	return f.more
}

// reset empties the lists, back to the inline buffers.
func (m *spill) reset() {
	m.packets = m.pkBuf[:0]
	m.ids[0], m.ids[1] = m.idBuf[0][:0], m.idBuf[1][:0]
}

// Pool keeps the byte distributions and spills of ended flows for the
// flows that start later: every flow of --features all has both, and
// reusing them spares two allocations per flow and the garbage collector
// their bytes. A pipeline has one (it is not safe for concurrent use);
// the zero value is ready. It holds at most maxPooled of each: enough to
// carry what ends over to what starts in a steady stream of flows,
// without keeping the memory of a past peak of flows (which the garbage
// collector would count as live).
type Pool struct {
	dists  []*ByteDist
	spills []*spill
}

const maxPooled = 1 << 12

// Release hands the flow's byte distribution and spill to pool and
// clears the flow: call it when the flow's last record is written.
func (f *Flow) Release(pool *Pool) {
	if f.Dist != nil && len(pool.dists) < maxPooled {
		pool.dists = append(pool.dists, f.Dist)
	}
	if f.more != nil && len(pool.spills) < maxPooled {
		pool.spills = append(pool.spills, f.more)
	}
	*f = Flow{}
}

func (pool *Pool) dist() *ByteDist {
	if pool == nil || len(pool.dists) == 0 {
		return new(ByteDist)
	}
	d := pool.dists[len(pool.dists)-1]
	pool.dists = pool.dists[:len(pool.dists)-1]
	d.Reset()
	return d
}

func (pool *Pool) takeSpill() *spill {
	if pool == nil || len(pool.spills) == 0 {
		m := new(spill)
		m.reset()
		return m
	}
	m := pool.spills[len(pool.spills)-1]
	pool.spills = pool.spills[:len(pool.spills)-1]
	m.reset()
	return m
}

// NumIPIDs returns how many IPv4 identifications of side are listed.
func (f *Flow) NumIPIDs(side uint8) int {
	if f.flags&(hasID0<<side) == 0 {
		return 0
	}
	if f.more == nil {
		return 1
	}
	return 1 + len(f.more.ids[side])
}

// IPID returns the i-th listed IPv4 identification of side.
func (f *Flow) IPID(side uint8, i int) uint16 {
	if i == 0 {
		return f.IP[side].firstID
	}
	return f.more.ids[side][i-1]
}

// AppendIPID lists an IPv4 identification of side.
func (f *Flow) AppendIPID(side uint8, id uint16) { f.appendIPID(nil, side, id) }

func (f *Flow) appendIPID(pool *Pool, side uint8, id uint16) {
	if f.flags&(hasID0<<side) == 0 {
		f.IP[side].firstID = id
		f.flags |= hasID0 << side
		return
	}
	m := f.spill(pool)
	m.ids[side] = append(m.ids[side], id)
}

// TCPOptions returns the raw options of side's first TCP packet.
func (f *Flow) TCPOptions(side uint8) string {
	n0, n1 := int(f.optsLen[0]), int(f.optsLen[1])
	if f.flags&optsSide1First != 0 {
		if side == 0 {
			return f.opts[n1 : n1+n0]
		}
		return f.opts[:n1]
	}
	if side == 0 {
		return f.opts[:n0]
	}
	return f.opts[n0 : n0+n1]
}

// SetTCPOptions keeps the raw options of side's first TCP packet; it is
// called at most once per side and record. TCP options are at most 40
// bytes.
func (f *Flow) SetTCPOptions(side uint8, o []byte) {
	if len(o) == 0 {
		return
	}
	o = o[:min(len(o), 255)]
	if f.opts == "" {
		f.opts = string(o)
		if side == 1 {
			f.flags |= optsSide1First
		}
	} else {
		f.opts += string(o)
	}
	f.optsLen[side] = uint8(len(o))
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

// IPInfo is Joy's "ip" object for one direction (the ids are read with
// Flow.NumIPIDs and Flow.IPID).
type IPInfo struct {
	Seen    bool
	TTL     uint8
	firstID uint16 // the first IPv4 identification; the rest are in spill
}

// TCPInfo is Joy's "tcp" object.
type TCPInfo struct {
	FirstSeq    uint32
	FirstSeqSet bool
	Dir         [2]TCPDir
}

// TCPDir is the "out" or "in" half of the tcp object: facts of the first
// TCP packet of that direction (Joy's meaning of "flags"), plus the OR of
// all flags seen (a new key). The options are read with Flow.TCPOptions.
type TCPDir struct {
	Seen        bool
	FirstFlags  uint8
	FirstWindow uint16
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
	more, dist := f.more, f.Dist
	*f = Flow{}
	if more != nil {
		more.packets = more.packets[:0]
		more.ids[0], more.ids[1] = more.ids[0][:0], more.ids[1][:0]
		f.more = more
	}
	if dist != nil {
		dist.Reset()
		f.Dist = dist
	}
}

// Add accounts one packet sent by side.
func (f *Flow) Add(cfg *Config, side uint8, ts int64, p *decode.Packet) {
	f.AddPooled(cfg, nil, side, ts, p)
}

// AddPooled is Add taking what the flow needs to allocate from pool
// (nil: allocate) first.
func (f *Flow) AddPooled(cfg *Config, pool *Pool, side uint8, ts int64, p *decode.Packet) {
	if (p.PayloadLen > 0 || cfg.Zeros) && f.NumPackets() < cfg.NumPkts {
		f.appendPacket(pool, Packet{Len: p.PayloadLen, Side: side, TS: ts})
	}
	if cfg.ByteDist && len(p.Payload) > 0 {
		if f.Dist == nil {
			f.Dist = pool.dist()
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
	if p.Key.IPVersion == 4 && f.NumIPIDs(side) < cfg.NumPkts {
		f.appendIPID(pool, side, uint16(p.IPID))
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
			f.SetTCPOptions(side, p.TCPOptions)
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
