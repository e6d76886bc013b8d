package flow

import (
	"testing"
	"time"

	"github.com/flowjoy/flowjoy/userspace/decode"
	"github.com/flowjoy/flowjoy/userspace/event"
	"github.com/flowjoy/flowjoy/userspace/flowkey"
)

type ended struct {
	key     flowkey.Key
	id      uint64
	why     ExpireType
	final   bool
	out     Side
	dir     [2]Counters
	start   int64
	end     int64
	packets int
}

type recorder struct {
	ended   []ended
	packets map[*Flow[int]]int
}

func (r *recorder) Begin(f *Flow[int]) {}
func (r *recorder) Packet(f *Flow[int], from Side, ev *event.Packet, p *decode.Packet) {
	f.State++
}
func (r *recorder) End(f *Flow[int], why ExpireType, final bool) {
	r.ended = append(r.ended, ended{key: f.Key, id: f.ID, why: why, final: final, out: f.Initiator, dir: f.Dir, start: f.Start, end: f.End, packets: f.State})
	f.State = 0
}

var (
	client = [16]byte{10, 0, 0, 1}
	server = [16]byte{10, 0, 0, 2}
)

// pkt builds a decoded TCP packet from src:sport to dst:dport.
func pkt(src, dst [16]byte, sport, dport uint16, flags uint8, payload uint32) *decode.Packet {
	return &decode.Packet{
		Key:         flowkey.Key{Src: src, Dst: dst, SrcPort: sport, DstPort: dport, Proto: flowkey.ProtoTCP, IPVersion: 4},
		TransportOK: true,
		TCPFlags:    flags,
		PayloadLen:  payload,
	}
}

func at(sec float64) *event.Packet { return &event.Packet{Timestamp: int64(sec * 1e9)} }

const (
	syn    = decode.TCPSyn
	synack = decode.TCPSyn | decode.TCPAck
	ack    = decode.TCPAck
	fin    = decode.TCPFin | decode.TCPAck
	rst    = decode.TCPRst
)

func TestInitiatorAndCounters(t *testing.T) {
	tests := []struct {
		name     string
		first    *decode.Packet // first packet seen
		wantOutC bool           // initiator is the client (10.0.0.1:4000)
	}{
		{"syn from client", pkt(client, server, 4000, 443, syn, 0), true},
		{"synack first means the receiver started", pkt(server, client, 443, 4000, synack, 0), true},
		{"no handshake: first sender", pkt(server, client, 443, 4000, ack, 10), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{}
			tab := NewTable[int](Config{}, r)
			tab.Packet(at(1), tt.first)
			tab.Packet(at(2), pkt(client, server, 4000, 443, ack, 100))
			tab.Packet(at(3), pkt(server, client, 443, 4000, ack, 1000))
			tab.Flush(ExpireEnd)
			if len(r.ended) != 1 {
				t.Fatalf("got %d records, want 1", len(r.ended))
			}
			e := r.ended[0]
			clientSide := Side(0) // 10.0.0.1 sorts first
			if got := e.out == clientSide; got != tt.wantOutC {
				t.Errorf("initiator is client = %v, want %v", got, tt.wantOutC)
			}
			if e.why != ExpireEnd || !e.final {
				t.Errorf("expire %c final %v, want e true", e.why, e.final)
			}
			total := e.dir[0].Packets + e.dir[1].Packets
			if total != 3 || e.dir[clientSide].Bytes != 100+uint64(tt.first.PayloadLen*boolToU32(tt.first.Key.Src == client)) {
				t.Errorf("counters %+v", e.dir)
			}
			if e.start != int64(1e9) || e.end != int64(3e9) {
				t.Errorf("times %d..%d", e.start, e.end)
			}
		})
	}
}

func boolToU32(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

func TestIdleTimeout(t *testing.T) {
	r := &recorder{}
	tab := NewTable[int](Config{IdleTimeout: 10 * time.Second}, r)
	tab.Packet(at(0), pkt(client, server, 1, 2, ack, 5))
	tab.Packet(at(9.9), pkt(client, server, 1, 2, ack, 5))
	if len(r.ended) != 0 {
		t.Fatalf("flow ended before its idle timeout")
	}
	tab.Packet(at(20), pkt(client, server, 7, 8, ack, 5)) // another flow moves the clock
	if len(r.ended) != 1 || r.ended[0].why != ExpireIdle || r.ended[0].packets != 2 {
		t.Fatalf("ended %+v, want one idle record of 2 packets", r.ended)
	}
}

func TestActiveTimeoutSplitsWithSameID(t *testing.T) {
	r := &recorder{}
	tab := NewTable[int](Config{IdleTimeout: 100 * time.Second, ActiveTimeout: 30 * time.Second}, r)
	for s := 0.0; s <= 65; s += 5 {
		tab.Packet(at(s), pkt(client, server, 1, 2, ack, 1))
	}
	tab.Flush(ExpireEnd)
	if len(r.ended) != 3 {
		t.Fatalf("got %d records, want 3: %+v", len(r.ended), r.ended)
	}
	var total uint64
	for i, e := range r.ended {
		if e.id != r.ended[0].id {
			t.Errorf("record %d has flow id %x, want %x", i, e.id, r.ended[0].id)
		}
		total += e.dir[0].Packets + e.dir[1].Packets
		if i < 2 && (e.why != ExpireActive || e.final) {
			t.Errorf("record %d: %c final=%v, want a/false", i, e.why, e.final)
		}
		if e.end-e.start >= int64(30*time.Second) {
			t.Errorf("record %d spans %v", i, time.Duration(e.end-e.start))
		}
	}
	if total != 14 {
		t.Errorf("packets over all records %d, want 14", total)
	}
}

func TestCloseAndReuse(t *testing.T) {
	r := &recorder{}
	tab := NewTable[int](DefaultConfig(), r)
	tab.Packet(at(0), pkt(client, server, 1, 2, syn, 0))
	tab.Packet(at(0.1), pkt(server, client, 2, 1, synack, 0))
	tab.Packet(at(0.2), pkt(client, server, 1, 2, fin, 0))
	tab.Packet(at(0.3), pkt(server, client, 2, 1, fin, 0))
	tab.Packet(at(0.4), pkt(client, server, 1, 2, ack, 0)) // last ACK stays in the flow
	// The same tuple reused by a new connection before the grace time.
	tab.Packet(at(0.5), pkt(client, server, 1, 2, syn, 0))
	if len(r.ended) != 1 || r.ended[0].why != ExpireClosed || r.ended[0].packets != 5 {
		t.Fatalf("after reuse: %+v", r.ended)
	}
	tab.Packet(at(0.6), pkt(server, client, 2, 1, rst, 0))
	tab.Packet(at(3), pkt(client, server, 9, 9, ack, 0)) // clock moves past the 2 s grace
	if len(r.ended) != 2 || r.ended[1].why != ExpireClosed || r.ended[1].packets != 2 {
		t.Fatalf("after rst: %+v", r.ended)
	}
}

func TestHalfCloseIsNotClosed(t *testing.T) {
	r := &recorder{}
	tab := NewTable[int](DefaultConfig(), r)
	tab.Packet(at(0), pkt(client, server, 1, 2, fin, 0))
	tab.Packet(at(5), pkt(server, client, 2, 1, ack, 100)) // server still sends after 5 s
	tab.Flush(ExpireEnd)
	if len(r.ended) != 1 || r.ended[0].why != ExpireEnd {
		t.Fatalf("a one-sided FIN ended the flow: %+v", r.ended)
	}
}

func TestEvictionWhenFull(t *testing.T) {
	r := &recorder{}
	tab := NewTable[int](Config{MaxFlows: 2}, r)
	tab.Packet(at(1), pkt(client, server, 1, 1, ack, 0))
	tab.Packet(at(2), pkt(client, server, 2, 2, ack, 0))
	tab.Packet(at(3), pkt(client, server, 1, 1, ack, 0)) // flow 1 is now the most recent
	tab.Packet(at(4), pkt(client, server, 3, 3, ack, 0))
	if len(r.ended) != 1 || r.ended[0].why != ExpireEvicted || r.ended[0].key.SrcPort != 2 {
		t.Fatalf("evicted %+v, want flow 2 with expire o", r.ended)
	}
	if s := tab.Stats(); s.Evicted != 1 || s.Active != 2 {
		t.Errorf("stats %+v", s)
	}
}

func TestFragmentsFollowTheirFirst(t *testing.T) {
	r := &recorder{}
	tab := NewTable[int](Config{}, r)
	first := &decode.Packet{Key: flowkey.Key{Src: client, Dst: server, SrcPort: 5000, DstPort: 53, Proto: flowkey.ProtoUDP, IPVersion: 4},
		TransportOK: true, Fragment: true, MoreFragments: true, IPID: 77, PayloadLen: 3000}
	rest := &decode.Packet{Key: flowkey.Key{Src: client, Dst: server, Proto: flowkey.ProtoUDP, IPVersion: 4},
		Fragment: true, FragOffset: 1480, IPID: 77}
	tab.Packet(at(1), first)
	tab.Packet(at(1), rest)
	tab.Flush(ExpireEnd)
	if len(r.ended) != 1 || r.ended[0].dir[0].Packets != 2 || r.ended[0].dir[0].Bytes != 3000 {
		t.Fatalf("fragments: %+v", r.ended)
	}
}

func TestCountsAddToFlows(t *testing.T) {
	r := &recorder{}
	tab := NewTable[int](Config{}, r)
	tab.Packet(at(1), pkt(client, server, 1, 2, syn, 0))
	k := flowkey.Key{Src: server, Dst: client, SrcPort: 2, DstPort: 1, Proto: flowkey.ProtoTCP, IPVersion: 4}
	tab.Count(&event.Counts{Key: k, Packets: 10, Bytes: 14000, First: 2e9, Last: 4e9, Lost: 1})
	tab.Flush(ExpireEnd)
	e := r.ended[0]
	if e.dir[1].Packets != 10 || e.dir[1].Bytes != 14000 || e.end != 4e9 || e.out != 0 {
		t.Fatalf("counts not added: %+v", e)
	}
}

func BenchmarkTablePacket(b *testing.B) {
	tab := NewTable[int](DefaultConfig(), &recorder{})
	pkts := make([]*decode.Packet, 1024)
	for i := range pkts {
		pkts[i] = pkt(client, server, uint16(i), 443, ack, 100)
	}
	ev := &event.Packet{}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ev.Timestamp = int64(i) * 1000
		tab.Packet(ev, pkts[i&1023])
	}
}

func TestEvictByKey(t *testing.T) {
	r := &recorder{}
	tab := NewTable[int](Config{}, r)
	tab.Packet(at(1), pkt(client, server, 1, 2, syn, 0))
	p := pkt(server, client, 2, 1, synack, 0)
	tab.Evict(p.Key) // the reverse direction's key names the same flow
	if len(r.ended) != 1 || r.ended[0].why != ExpireEvicted || tab.Stats().Evicted != 1 {
		t.Fatalf("%+v", r.ended)
	}
	tab.Evict(p.Key) // unknown now: nothing happens
	if len(r.ended) != 1 {
		t.Fatalf("evicted twice")
	}
}
