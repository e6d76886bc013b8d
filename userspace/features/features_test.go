package features

import (
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"

	"github.com/flowjoy/flowjoy/userspace/decode"
	"github.com/flowjoy/flowjoy/userspace/flowkey"
)

// TestListsKeepEveryEntry feeds random packets of both sides and checks
// the compact lists (first entries inline, the rest spilled) against
// plain slices kept alongside: the packets list, the IP ids of each side
// (both bounded by NumPkts), each side's first TCP options, whichever
// side comes first, and the byte distribution, over records of the same
// Flow (Reset) and over flows reusing what ended ones released (Pool).
func TestListsKeepEveryEntry(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	cfg := &Config{NumPkts: 12, ByteDist: true, DistBytes: -1}
	var f Flow
	var pool Pool
	for record := 0; record < 60; record++ {
		// The next record of the same flow, or a new flow made of what
		// the last one released.
		if record%2 == 0 {
			f.Reset()
		} else {
			f.Release(&pool)
		}
		var dist [256]uint32
		var distBytes uint64
		var packets []Packet
		var ids [2][]uint16
		var opts [2][]byte
		var seen [2]bool
		for i, n := 0, rng.IntN(40); i < n; i++ {
			side := uint8(rng.IntN(2))
			p := &decode.Packet{Key: flowkey.Key{Proto: flowkey.ProtoTCP, IPVersion: 4}, TransportOK: true,
				PayloadLen: uint32(rng.IntN(3) * 100), IPID: uint32(rng.IntN(65536))}
			p.TCPOptions = make([]byte, rng.IntN(41))
			for j := range p.TCPOptions {
				p.TCPOptions[j] = byte(rng.IntN(256))
			}
			p.Payload = p.TCPOptions // any bytes
			for _, x := range p.Payload {
				dist[x]++
			}
			distBytes += uint64(len(p.Payload))
			ts := int64(rng.IntN(1e9))
			f.AddPooled(cfg, &pool, side, ts, p)
			if p.PayloadLen > 0 && len(packets) < cfg.NumPkts {
				packets = append(packets, Packet{Len: p.PayloadLen, Side: side, TS: ts})
			}
			if len(ids[side]) < cfg.NumPkts {
				ids[side] = append(ids[side], uint16(p.IPID))
			}
			if !seen[side] {
				seen[side], opts[side] = true, p.TCPOptions
			}
		}
		if distBytes > 0 && (f.Dist == nil || f.Dist.Counts() != dist || f.Dist.Bytes != distBytes) {
			t.Fatalf("record %d: byte distribution differs", record)
		}
		var got []Packet
		for i := 0; i < f.NumPackets(); i++ {
			got = append(got, f.PacketAt(i))
		}
		if !slices.Equal(got, packets) {
			t.Fatalf("record %d: packets %v, want %v", record, got, packets)
		}
		for side := uint8(0); side < 2; side++ {
			var gotIDs []uint16
			for i := 0; i < f.NumIPIDs(side); i++ {
				gotIDs = append(gotIDs, f.IPID(side, i))
			}
			if !slices.Equal(gotIDs, ids[side]) {
				t.Fatalf("record %d side %d: ids %v, want %v", record, side, gotIDs, ids[side])
			}
			if o := f.TCPOptions(side); o != string(opts[side]) {
				t.Fatalf("record %d side %d: options %x, want %x", record, side, o, opts[side])
			}
		}
	}
}

// TestSpillFitsItsSizeClass keeps spillCap honest: the spill is one
// 256-byte allocation.
func TestSpillFitsItsSizeClass(t *testing.T) {
	if n := unsafe.Sizeof(spill{}); n > 256 {
		t.Errorf("spill is %d bytes, more than its 256-byte size class", n)
	}
}
